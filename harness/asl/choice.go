package asl

// rule is a Choice Rule: a comparison of Variable with one operator, or a
// Boolean combination (And, Or, Not) — spec, "Choice Rules". The operators
// here are the ones a definition of this project can use; an unknown one
// matches nothing.
type rule struct {
	Variable string
	Next     string
	And, Or  []*rule
	Not      *rule

	StringEquals                              *string
	BooleanEquals                             *bool
	NumericEquals, NumericLessThan            *float64
	NumericGreaterThan, NumericLessThanEquals *float64
	NumericGreaterThanEquals                  *float64
	IsPresent, IsNull, IsString, IsNumeric    *bool
	IsBoolean                                 *bool
}

func (r *rule) eval(input any) bool {
	switch {
	case r.And != nil:
		for _, c := range r.And {
			if !c.eval(input) {
				return false
			}
		}
		return true
	case r.Or != nil:
		for _, c := range r.Or {
			if c.eval(input) {
				return true
			}
		}
		return false
	case r.Not != nil:
		return !r.Not.eval(input)
	}
	v, err := get(r.Variable, input, nil)
	present := err == nil
	if r.IsPresent != nil {
		// "IsPresent ... true if the field identified by Variable exists".
		return present == *r.IsPresent
	}
	if !present {
		// The spec: a Variable that names nothing is a run-time error
		// (States.Runtime) unless tested with IsPresent; here it matches nothing.
		return false
	}
	s, isStr := v.(string)
	b, isBool := v.(bool)
	n, isNum := v.(float64)
	switch {
	case r.IsNull != nil:
		return (v == nil) == *r.IsNull
	case r.IsString != nil:
		return isStr == *r.IsString
	case r.IsNumeric != nil:
		return isNum == *r.IsNumeric
	case r.IsBoolean != nil:
		return isBool == *r.IsBoolean
	case r.StringEquals != nil:
		return isStr && s == *r.StringEquals
	case r.BooleanEquals != nil:
		return isBool && b == *r.BooleanEquals
	case r.NumericEquals != nil:
		return isNum && n == *r.NumericEquals
	case r.NumericLessThan != nil:
		return isNum && n < *r.NumericLessThan
	case r.NumericGreaterThan != nil:
		return isNum && n > *r.NumericGreaterThan
	case r.NumericLessThanEquals != nil:
		return isNum && n <= *r.NumericLessThanEquals
	case r.NumericGreaterThanEquals != nil:
		return isNum && n >= *r.NumericGreaterThanEquals
	}
	return false
}
