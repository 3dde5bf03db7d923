package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// readPassword asks for the password without echo, twice, when stdin is a
// terminal; otherwise it reads the first line of stdin (scripts:
// `printf '%s\n' "$PW" | hotline user add ...`).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			return string(b), err
		}
		p, err := ask("password (not shown): ")
		if err != nil {
			return "", err
		}
		again, err := ask("the same again: ")
		if err != nil {
			return "", err
		}
		if p != again {
			return "", errors.New("the two passwords differ; nothing saved")
		}
		return p, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
