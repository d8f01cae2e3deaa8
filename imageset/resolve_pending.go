package imageset

import "errors"

func (r *resolver) registries() error {
	if len(r.f.Registries) > 0 {
		return errors.New("registry rules are not resolved yet")
	}
	return nil
}

func (r *resolver) operators() error {
	if len(r.f.Operators) > 0 {
		return errors.New("operators are not resolved yet")
	}
	return nil
}

func (r *resolver) scope(l Located) error { return errors.New("scopes are not resolved yet") }
