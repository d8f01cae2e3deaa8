package imageset

import "errors"

func (r *resolver) operators() error {
	if len(r.f.Operators) > 0 {
		return errors.New("operators are not resolved yet")
	}
	return nil
}
