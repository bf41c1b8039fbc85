package burst

import (
	"fmt"

	"github.com/scenedex/scenedex/harness/template"
)

// rule is an EventBridge rule of the template: an S3 event pattern
// (detail-type, object key prefix) or a rate schedule, and the functions
// and SQS queues (their ARNs) it targets.
type rule struct {
	detailType, prefix string
	rateMinutes        int
	targets            []string
	queues             []string
}

// tableSpec is the DynamoDB table's name and CreateTable-shaped properties.
type tableSpec struct {
	Name  string
	props map[string]any
}

// readStack reads what harness/template leaves in the raw template: the
// rules and the table.
func readStack(st *template.Stack) ([]rule, *tableSpec, error) {
	byArn := map[string]string{}
	for name, f := range st.Functions {
		byArn[f.ARN] = name
	}
	queues := map[string]bool{}
	for _, q := range st.Queues {
		queues[q.ARN] = true
	}
	res, _ := st.Template["Resources"].(map[string]any)
	var rules []rule
	var table *tableSpec
	for id, v := range res {
		r, _ := v.(map[string]any)
		props, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::DynamoDB::Table":
			name, err := st.Resolve(map[string]any{"Ref": id})
			if err != nil {
				return nil, nil, err
			}
			table = &tableSpec{Name: fmt.Sprint(name), props: props}
		case "AWS::Events::Rule":
			var ru rule
			if se, ok := props["ScheduleExpression"].(string); ok {
				fmt.Sscanf(se, "rate(%d minutes)", &ru.rateMinutes)
			}
			pat, _ := props["EventPattern"].(map[string]any)
			if dt, _ := pat["detail-type"].([]any); len(dt) > 0 {
				ru.detailType, _ = dt[0].(string)
			}
			detail, _ := pat["detail"].(map[string]any)
			object, _ := detail["object"].(map[string]any)
			keys, _ := object["key"].([]any)
			for _, k := range keys {
				if m, ok := k.(map[string]any); ok {
					ru.prefix, _ = m["prefix"].(string)
				}
			}
			targets, _ := props["Targets"].([]any)
			for _, t := range targets {
				tm, _ := t.(map[string]any)
				arn, err := st.Resolve(tm["Arn"])
				if err != nil {
					return nil, nil, fmt.Errorf("rule %s: %w", id, err)
				}
				if name, ok := byArn[fmt.Sprint(arn)]; ok {
					ru.targets = append(ru.targets, name)
				}
				if queues[fmt.Sprint(arn)] {
					ru.queues = append(ru.queues, fmt.Sprint(arn))
				}
			}
			if len(ru.targets) > 0 || len(ru.queues) > 0 {
				rules = append(rules, ru)
			}
		}
	}
	return rules, table, nil
}
