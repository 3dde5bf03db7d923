package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/ivr"
)

// Load reads the configuration file at path ("" = the embedded default,
// configs/hotline.yaml as shipped), expands ${VAR} and ${VAR:-default} in its
// values with env (os.LookupEnv in production; nil = an empty environment),
// decodes it strictly, applies defaults and validates it.
//
// On error the result is nil and the error wraps Errors listing every
// problem with its key path, one per line.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	name := path
	var data []byte
	if path == "" {
		name, data = "embedded hotline.yaml", configs.HotlineYAML()
	} else {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	c, problems := parse(data, env)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: %s: %w", name, problems)
	}
	c.Path = path
	return c, nil
}

// Parse is Load for bytes already read (tests, fuzzing, a config from elsewhere).
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	c, problems := parse(data, env)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: %w", problems)
	}
	return c, nil
}

// parse runs the pipeline: bytes -> node tree -> ${VAR} expansion in scalar
// values -> strict decode -> defaults -> Validate, and returns every problem
// of every stage. Validation problems under a key that already failed to
// expand or decode are dropped: one problem per key.
func parse(data []byte, env func(string) (string, bool)) (*Config, Errors) {
	root, problems := parseNode(data)
	if len(problems) > 0 {
		return nil, problems
	}
	x := &expander{env: env}
	x.walk(root, "")

	var c Config
	d := newDecoder()
	d.decode(root, reflect.ValueOf(&c).Elem(), "")
	c.Defaulted = x.defaulted

	problems = append(x.problems, d.problems...)
	problems = append(problems, applyDefaults(&c, d.present)...)
	problems = append(problems, c.problems().without(problems.paths())...)
	if len(problems) > 0 {
		return nil, problems
	}
	return &c, nil
}

// LoadMenu decodes an IVR menu (configs/ivr.yaml) strictly into an ivr.Menu
// and checks it with Menu.Validate(nil): prompt names are checked for form,
// not for existence (use Menu.Validate(PromptFiles(dir)) for that). There is
// no ${VAR} expansion in menus.
func LoadMenu(data []byte) (*ivr.Menu, error) {
	m, problems := parseMenu(data)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: ivr menu: %w", problems)
	}
	return m, nil
}

// LoadMenuFile is LoadMenu on a file; path "" is the embedded configs/ivr.yaml.
func LoadMenuFile(path string) (*ivr.Menu, error) {
	name := path
	var data []byte
	if path == "" {
		name, data = "embedded ivr.yaml", configs.IVRYAML()
	} else {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	m, problems := parseMenu(data)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: %s: %w", name, problems)
	}
	return m, nil
}

func parseMenu(data []byte) (*ivr.Menu, Errors) {
	root, problems := parseNode(data)
	if len(problems) > 0 {
		return nil, problems
	}
	var m ivr.Menu
	d := newDecoder()
	d.decode(root, reflect.ValueOf(&m).Elem(), "")
	problems = d.problems
	for _, err := range m.Validate(nil) {
		if ve, ok := errors.AsType[*ivr.ValidationError](err); ok {
			if under(ve.Path, problems.paths()) {
				continue
			}
			err = &Problem{Path: ve.Path, Err: errors.New(ve.Problem)}
		}
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &m, nil
}

// PromptFiles returns a hasPrompt function for ivr.Menu.Validate: a prompt
// exists when dir/<name>.wav is a regular file.
func PromptFiles(dir string) func(name string) bool {
	return func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name+".wav"))
		return err == nil && fi.Mode().IsRegular()
	}
}
