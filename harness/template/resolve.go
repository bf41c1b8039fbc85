package template

import (
	"fmt"
	"regexp"
	"strings"
)

// resolver turns CloudFormation intrinsic functions (Ref, Fn::GetAtt,
// Fn::Join, Fn::Sub, Fn::Select, Fn::Split; the pseudo parameters) into the
// values the harness gives the stack's resources: deterministic fake
// physical ids in the formats AWS documents for each type's Ref and
// attributes (CloudFormation User Guide, "Intrinsic function reference" and
// each resource type's "Return values").
type resolver struct {
	res map[string]any
}

func newResolver(res map[string]any) *resolver { return &resolver{res: res} }

func (r *resolver) typeOf(id string) string {
	typ, _, _ := resource(r.res, id)
	return typ
}

// physicalName is the resource's name: the one the template sets, or
// "<stack>-<logical id>" (lower case where AWS requires it).
func (r *resolver) physicalName(id string) string {
	typ, props, _ := resource(r.res, id)
	for _, k := range []string{"QueueName", "TableName", "FunctionName", "StateMachineName", "DomainName", "BucketName",
		"EndpointName", "RoleName", "LogGroupName", "TopicName", "Name"} {
		if s, ok := props[k].(string); ok && s != "" {
			return s
		}
	}
	name := StackName + "-" + id
	switch typ {
	case "AWS::S3::Bucket", "AWS::SageMaker::Endpoint":
		return strings.ToLower(name)
	case "AWS::OpenSearchService::Domain": // 3 to 28 lower-case characters
		n := strings.ToLower(name)
		if len(n) > 28 {
			n = n[:28]
		}
		return n
	}
	return name
}

func (r *resolver) queueURL(id string) string {
	return "https://sqs." + Region + ".amazonaws.com/" + Account + "/" + r.physicalName(id)
}

// arn is the resource's ARN in its service's documented format.
func (r *resolver) arn(id string) string {
	name := r.physicalName(id)
	ra := Region + ":" + Account + ":"
	switch typ := r.typeOf(id); typ {
	case "AWS::S3::Bucket":
		return "arn:aws:s3:::" + name
	case "AWS::DynamoDB::Table":
		return "arn:aws:dynamodb:" + ra + "table/" + name
	case "AWS::SQS::Queue":
		return "arn:aws:sqs:" + ra + name
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + ra + name
	case "AWS::Lambda::Function":
		return "arn:aws:lambda:" + ra + "function:" + name
	case "AWS::IAM::Role":
		return "arn:aws:iam::" + Account + ":role/" + name
	case "AWS::OpenSearchService::Domain":
		return "arn:aws:es:" + ra + "domain/" + name
	case "AWS::SageMaker::Endpoint":
		return "arn:aws:sagemaker:" + ra + "endpoint/" + name
	case "AWS::StepFunctions::StateMachine":
		return "arn:aws:states:" + ra + "stateMachine:" + name
	case "AWS::Logs::LogGroup":
		return "arn:aws:logs:" + ra + "log-group:" + name + ":*"
	case "AWS::Events::Rule":
		return "arn:aws:events:" + ra + "rule/" + name
	default:
		svc := "unknown"
		if parts := strings.Split(typ, "::"); len(parts) == 3 {
			svc = strings.ToLower(parts[1])
		}
		return "arn:aws:" + svc + ":" + ra + strings.ToLower(strings.TrimPrefix(typ, "AWS::")) + "/" + name
	}
}

// ref is what Ref returns for the resource (its type's "Return values").
func (r *resolver) ref(id string) (string, error) {
	switch id {
	case "AWS::Partition":
		return "aws", nil
	case "AWS::Region":
		return Region, nil
	case "AWS::AccountId":
		return Account, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return StackName, nil
	}
	if _, ok := r.res[id]; !ok {
		return "", fmt.Errorf("Ref %s: no such resource", id)
	}
	switch r.typeOf(id) {
	case "AWS::SQS::Queue":
		return r.queueURL(id), nil
	case "AWS::SageMaker::Endpoint", "AWS::StepFunctions::StateMachine", "AWS::SNS::Topic", "AWS::Lambda::LayerVersion":
		return r.arn(id), nil
	}
	return r.physicalName(id), nil
}

// getAtt is what Fn::GetAtt returns for the resource's attribute.
func (r *resolver) getAtt(id, attr string) (string, error) {
	if _, ok := r.res[id]; !ok {
		return "", fmt.Errorf("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	name := r.physicalName(id)
	switch attr {
	case "Arn", "DomainArn", "TopicArn":
		return r.arn(id), nil
	case "QueueName", "EndpointName", "Name", "ModelName", "EndpointConfigName", "TopicName":
		return name, nil
	case "QueueUrl":
		return r.queueURL(id), nil
	case "DomainEndpoint":
		return "search-" + name + "-fake." + Region + ".es.amazonaws.com", nil
	case "RegionalDomainName":
		return name + ".s3." + Region + ".amazonaws.com", nil
	case "DomainName":
		return strings.ToLower(id) + ".cloudfront.net", nil
	case "ApiEndpoint":
		return "https://" + strings.ToLower(id) + ".execute-api." + Region + ".amazonaws.com", nil
	}
	return strings.ToLower(id) + "-" + strings.ToLower(attr), nil
}

// str resolves v and wants a string.
func (r *resolver) str(v any) (string, error) {
	x, err := r.value(v)
	if err != nil {
		return "", err
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("%v is not a string", x)
	}
	return s, nil
}

var subRef = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// value resolves every intrinsic in v.
func (r *resolver) value(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			y, err := r.value(e)
			if err != nil {
				return nil, err
			}
			out = append(out, y)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if strings.HasPrefix(k, "Fn::") || k == "Ref" {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			y, err := r.value(e)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return r.ref(fmt.Sprint(arg))
	case "Fn::GetAtt":
		a, _ := arg.([]any)
		if len(a) != 2 {
			if s, ok := arg.(string); ok { // "Logical.Attr" form
				id, attr, _ := strings.Cut(s, ".")
				return r.getAtt(id, attr)
			}
			return nil, fmt.Errorf("Fn::GetAtt %v: want [id, attribute]", arg)
		}
		return r.getAtt(fmt.Sprint(a[0]), fmt.Sprint(a[1]))
	case "Fn::Join":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Join %v: want [delimiter, list]", arg)
		}
		list, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		parts := make([]string, 0, len(items))
		for _, it := range items {
			parts = append(parts, fmt.Sprint(it))
		}
		return strings.Join(parts, fmt.Sprint(a[0])), nil
	case "Fn::Select":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Select %v: want [index, list]", arg)
		}
		i, ok := num(a[0])
		list, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		if !ok || i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select %v: index out of range", arg)
		}
		return items[i], nil
	case "Fn::Split":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Split %v: want [delimiter, string]", arg)
		}
		s, err := r.str(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, fmt.Sprint(a[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Sub":
		tmpl, vars := "", map[string]any{}
		switch a := arg.(type) {
		case string:
			tmpl = a
		case []any:
			if len(a) != 2 {
				return nil, fmt.Errorf("Fn::Sub %v: want [string, variables]", arg)
			}
			tmpl = fmt.Sprint(a[0])
			vars, _ = a[1].(map[string]any)
		}
		var subErr error
		out := subRef.ReplaceAllStringFunc(tmpl, func(m string) string {
			name := m[2 : len(m)-1]
			var s string
			var err error
			if v, ok := vars[name]; ok {
				s, err = r.str(v)
			} else if id, attr, ok := strings.Cut(name, "."); ok {
				s, err = r.getAtt(id, attr)
			} else {
				s, err = r.ref(name)
			}
			if err != nil && subErr == nil {
				subErr = err
			}
			return s
		})
		return strings.ReplaceAll(out, "${!", "${"), subErr
	}
	return nil, fmt.Errorf("%s: not supported by the harness", fn)
}

// statements reads a policy document's Statement (one or a list).
func (r *resolver) statements(v any) ([]Statement, error) {
	resolved, err := r.value(v)
	if err != nil {
		return nil, err
	}
	list, ok := resolved.([]any)
	if !ok {
		list = []any{resolved}
	}
	var out []Statement
	for _, e := range list {
		m, _ := e.(map[string]any)
		st := Statement{Effect: fmt.Sprint(m["Effect"]), Action: strings1(m["Action"]), NotAction: strings1(m["NotAction"]),
			Resource: strings1(m["Resource"]), NotResource: strings1(m["NotResource"])}
		st.Sid, _ = m["Sid"].(string)
		if cond, ok := m["Condition"].(map[string]any); ok {
			st.Condition = map[string]map[string][]string{}
			for op, kv := range cond {
				keys, _ := kv.(map[string]any)
				st.Condition[op] = map[string][]string{}
				for k, vals := range keys {
					st.Condition[op][k] = strings1(vals)
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}
