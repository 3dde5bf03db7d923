package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: master is the keyboard and screen
// (a raw, non-blocking descriptor), tty the terminal a program reads.
func openPTY(t *testing.T) (master int, tty *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); unix.Close(m) })
	return m, s
}

// screen is what the terminal has shown so far (non-blocking).
func screen(master int) string {
	var out []byte
	buf := make([]byte, 1024)
	for {
		n, err := unix.Read(master, buf)
		if n <= 0 || err != nil {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// On a terminal the password is asked for twice and never shown; two
// different entries save nothing. From a pipe, the first line is read.
func TestPasswordPromptWithoutEcho(t *testing.T) {
	master, tty := openPTY(t)
	for _, c := range []struct{ first, second, want string }{
		{"s3cret-pass-1", "s3cret-pass-1", "s3cret-pass-1"},
		{"s3cret-pass-1", "s3cret-pass-2", "error: the two passwords differ; nothing saved"},
	} {
		asked := make(prompts, 16)
		got := make(chan string, 1)
		go func() {
			p, err := readPassword(tty, asked)
			if err != nil {
				p = "error: " + err.Error()
			}
			got <- p
		}()
		asked.waitFor(t, "password")
		waitNoEcho(t, tty)
		if _, err := unix.Write(master, []byte(c.first+"\n")); err != nil {
			t.Fatal(err)
		}
		asked.waitFor(t, "again")
		waitNoEcho(t, tty)
		if _, err := unix.Write(master, []byte(c.second+"\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p != c.want {
				t.Fatalf("typed %q and %q: %q, want %q", c.first, c.second, p, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("readPassword did not return")
		}
		// What the terminal showed: nothing of the password.
		time.Sleep(100 * time.Millisecond)
		if shown := screen(master); strings.Contains(shown, "s3cret") {
			t.Fatalf("the terminal echoed the password: %q", shown)
		}
	}

	p, err := readPassword(strings.NewReader("piped-pass-1\r\nrest\n"), io.Discard)
	if err != nil || p != "piped-pass-1" {
		t.Fatalf("from a pipe: %q %v", p, err)
	}
}

// prompts receives what readPassword writes to stderr, one write each.
type prompts chan string

func (p prompts) Write(b []byte) (int, error) { p <- string(b); return len(b), nil }

// waitFor returns what was written up to and including a write containing want.
func (p prompts) waitFor(t *testing.T, want string) string {
	t.Helper()
	var seen string
	for {
		select {
		case w := <-p:
			seen += w
			if strings.Contains(w, want) {
				return seen
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q written; got %q", want, seen)
		}
	}
}

// waitNoEcho waits until the terminal's echo is off (term.ReadPassword
// turns it off before reading): what is typed before would be shown.
func waitNoEcho(t *testing.T, tty *os.File) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if st.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
