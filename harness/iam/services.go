package iam

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/scenedex/scenedex/harness/template"
	"github.com/scenedex/scenedex/internal/awsfake"
)

// A Service tells, for one HTTP request to a stand-in, the call it is (for
// messages, e.g. "DynamoDB.Query") and the authorization requests AWS makes
// for it: usually one, several for batches and transactions. Its refusal is
// written in the service's protocol so the SDK client sees AWS's error.
type Service struct {
	Name   string
	derive func(r *http.Request, body []byte) (call string, reqs []Request, err error)
	refuse func(w http.ResponseWriter, msg string)
}

const arnPrefix = "arn:aws:"

func regionAccount() string { return template.Region + ":" + template.Account + ":" }

// target is the operation of a JSON-protocol request (X-Amz-Target:
// "<Prefix>.<Operation>").
func target(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndexByte(t, '.')+1:]
}

func jsonBody(body []byte) map[string]any {
	var m map[string]any
	json.Unmarshal(body, &m)
	return m
}

// str and get walk a decoded JSON body (awsfake's helpers).
func str(v any, path ...any) string { return awsfake.String(v, path...) }

func get(v any, path ...any) any { return awsfake.Field(v, path...) }

// jsonRefusal answers as the JSON protocols do: 400, the error's type in
// X-Amzn-ErrorType and __type.
func jsonRefusal(typ string) func(w http.ResponseWriter, msg string) {
	return func(w http.ResponseWriter, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
}

// DynamoDB derives DynamoDB's actions ("Actions, resources, and condition
// keys for Amazon DynamoDB"): the operation on the table's ARN (an index's
// for a Query or Scan with IndexName); BatchWriteItem and BatchGetItem per
// table; a transaction's items as the PutItem, UpdateItem, DeleteItem,
// GetItem and ConditionCheckItem they are ("Using IAM with DynamoDB
// transactions"). dynamodb:LeadingKeys holds the partition key values of
// the items touched, for tables whose partition key attribute partitionKeys
// names (table name -> attribute).
func DynamoDB(partitionKeys map[string]string) Service {
	table := func(name string) string { return arnPrefix + "dynamodb:" + regionAccount() + "table/" + name }
	leading := func(tableName string, item any) map[string][]string {
		pk := partitionKeys[tableName]
		if pk == "" {
			return nil
		}
		if v := str(item, pk, "S"); v != "" {
			return map[string][]string{"dynamodb:LeadingKeys": {v}}
		}
		return nil
	}
	return Service{Name: "DynamoDB", refuse: jsonRefusal("com.amazonaws.dynamodb.v20120810#AccessDeniedException"),
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			op, b := target(r), jsonBody(body)
			name := str(b, "TableName")
			switch op {
			case "GetItem", "DeleteItem", "UpdateItem":
				return op, []Request{{Action: "dynamodb:" + op, Resource: table(name), Context: leading(name, b["Key"])}}, nil
			case "PutItem":
				return op, []Request{{Action: "dynamodb:" + op, Resource: table(name), Context: leading(name, b["Item"])}}, nil
			case "Query", "Scan":
				res := table(name)
				if idx := str(b, "IndexName"); idx != "" {
					res += "/index/" + idx
				}
				req := Request{Action: "dynamodb:" + op, Resource: res}
				if op == "Query" && str(b, "IndexName") == "" {
					req.Context = queryLeadingKey(b, partitionKeys[name])
				}
				return op, []Request{req}, nil
			case "BatchWriteItem", "BatchGetItem":
				items, _ := b["RequestItems"].(map[string]any)
				var reqs []Request
				for _, t := range sortedKeys(items) {
					keys := []string{}
					list, _ := items[t].([]any)
					if op == "BatchGetItem" {
						list, _ = items[t].(map[string]any)["Keys"].([]any)
					}
					for _, e := range list {
						for _, item := range []any{e, get(e, "PutRequest", "Item"), get(e, "DeleteRequest", "Key")} {
							if c := leading(t, item); c != nil {
								keys = append(keys, c["dynamodb:LeadingKeys"]...)
							}
						}
					}
					req := Request{Action: "dynamodb:" + op, Resource: table(t)}
					if len(keys) > 0 {
						req.Context = map[string][]string{"dynamodb:LeadingKeys": keys}
					}
					reqs = append(reqs, req)
				}
				return op, reqs, nil
			case "TransactWriteItems", "TransactGetItems":
				list, _ := b["TransactItems"].([]any)
				var reqs []Request
				for _, e := range list {
					for kind, action := range map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
						"ConditionCheck": "ConditionCheckItem", "Get": "GetItem"} {
						part, ok := get(e, kind).(map[string]any)
						if !ok {
							continue
						}
						t := str(part, "TableName")
						item := part["Key"]
						if kind == "Put" {
							item = part["Item"]
						}
						reqs = append(reqs, Request{Action: "dynamodb:" + action, Resource: table(t), Context: leading(t, item)})
					}
				}
				return op, reqs, nil
			}
			if name != "" {
				return op, []Request{{Action: "dynamodb:" + op, Resource: table(name)}}, nil
			}
			return op, []Request{{Action: "dynamodb:" + op, Resource: "*"}}, nil
		}}
}

// queryLeadingKey reads the partition key value a Query's key condition
// names ("pk = :v", the attribute maybe through a #name).
func queryLeadingKey(b map[string]any, pk string) map[string][]string {
	if pk == "" {
		return nil
	}
	for _, m := range regexp.MustCompile(`(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)`).FindAllStringSubmatch(str(b, "KeyConditionExpression"), -1) {
		name := m[1]
		if strings.HasPrefix(name, "#") {
			name = str(b, "ExpressionAttributeNames", name)
		}
		if name == pk {
			if v := str(b, "ExpressionAttributeValues", m[2], "S"); v != "" {
				return map[string][]string{"dynamodb:LeadingKeys": {v}}
			}
		}
	}
	return nil
}

// SQS derives SQS's actions on the queue's ARN (from QueueUrl, or SourceArn
// for message move tasks). Batch operations are authorized as their single
// forms ("Amazon SQS batch actions": SendMessageBatch by sqs:SendMessage,
// DeleteMessageBatch by sqs:DeleteMessage, ChangeMessageVisibilityBatch by
// sqs:ChangeMessageVisibility).
func SQS() Service {
	return Service{Name: "SQS", refuse: sqsRefusal,
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			op, b := target(r), jsonBody(body)
			action := "sqs:" + strings.TrimSuffix(op, "Batch")
			res := "*"
			switch {
			case str(b, "QueueUrl") != "":
				arn, err := QueueARN(str(b, "QueueUrl"))
				if err != nil {
					return op, nil, err
				}
				res = arn
			case str(b, "SourceArn") != "":
				res = str(b, "SourceArn")
			case str(b, "QueueName") != "":
				res = arnPrefix + "sqs:" + regionAccount() + str(b, "QueueName")
			}
			return op, []Request{{Action: action, Resource: res}}, nil
		}}
}

// sqsRefusal: SQS's JSON protocol names the query-compatible code too.
func sqsRefusal(w http.ResponseWriter, msg string) {
	w.Header().Set("x-amzn-query-error", "AccessDenied;Sender")
	jsonRefusal("com.amazonaws.sqs#AccessDenied")(w, msg)
}

// QueueARN turns a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)
// into the queue's ARN.
func QueueARN(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", err
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", fmt.Errorf("queue url %q: want .../<account>/<name>", queueURL)
	}
	return arnPrefix + "sqs:" + template.Region + ":" + parts[len(parts)-2] + ":" + parts[len(parts)-1], nil
}

// StepFunctions derives states:<Operation> on the state machine's ARN
// (stateMachineArn), an execution's (executionArn), or, for task token
// calls, which carry no ARN, taskTokenMachine: the state machine whose
// tokens the stand-in issues.
func StepFunctions(taskTokenMachine string) Service {
	return Service{Name: "StepFunctions", refuse: jsonRefusal("AccessDeniedException"),
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			op, b := target(r), jsonBody(body)
			res := "*"
			switch {
			case str(b, "stateMachineArn") != "":
				res = str(b, "stateMachineArn")
			case str(b, "executionArn") != "":
				res = str(b, "executionArn")
			case str(b, "taskToken") != "":
				res = taskTokenMachine
			}
			return op, []Request{{Action: "states:" + op, Resource: res}}, nil
		}}
}

// EventBridge derives events:PutEvents on each entry's event bus
// (EventBusName, a name or an ARN; "default" when unset).
func EventBridge() Service {
	return Service{Name: "EventBridge", refuse: jsonRefusal("AccessDeniedException"),
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			op, b := target(r), jsonBody(body)
			if op != "PutEvents" {
				return op, []Request{{Action: "events:" + op, Resource: "*"}}, nil
			}
			seen := map[string]bool{}
			var reqs []Request
			entries, _ := b["Entries"].([]any)
			for _, e := range entries {
				bus := str(e, "EventBusName")
				if bus == "" {
					bus = "default"
				}
				if !strings.HasPrefix(bus, "arn:") {
					bus = arnPrefix + "events:" + regionAccount() + "event-bus/" + bus
				}
				if !seen[bus] {
					seen[bus] = true
					reqs = append(reqs, Request{Action: "events:PutEvents", Resource: bus})
				}
			}
			return op, reqs, nil
		}}
}

// S3 derives S3's actions from a path-style request's method, path and
// query ("Required permissions for Amazon S3 API operations"): object reads
// (GET, HEAD) s3:GetObject; writes, multipart uploads' steps and copies'
// targets s3:PutObject (a copy's source s3:GetObject); DELETE s3:DeleteObject,
// or s3:AbortMultipartUpload with uploadId; a bucket's listing s3:ListBucket
// with the s3:prefix condition key; a multi-object delete s3:DeleteObject per
// key.
func S3() Service {
	return Service{Name: "S3", refuse: s3Refusal,
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			p := strings.TrimPrefix(r.URL.EscapedPath(), "/")
			bucket, key, _ := strings.Cut(p, "/")
			key, _ = url.PathUnescape(key)
			q := r.URL.Query()
			call := "S3 " + r.Method + " /" + p
			if bucket == "" {
				return call, []Request{{Action: "s3:ListAllMyBuckets", Resource: "*"}}, nil
			}
			bucketARN := "arn:aws:s3:::" + bucket
			object := bucketARN + "/" + key
			one := func(action, res string) []Request { return []Request{{Action: action, Resource: res}} }
			if key == "" {
				switch {
				case r.Method == http.MethodPost && q.Has("delete"):
					var del struct {
						Objects []struct{ Key string } `xml:"Object"`
					}
					if err := xml.Unmarshal(body, &del); err != nil {
						return call, nil, fmt.Errorf("multi-object delete body: %w", err)
					}
					var reqs []Request
					for _, o := range del.Objects {
						reqs = append(reqs, Request{Action: "s3:DeleteObject", Resource: bucketARN + "/" + o.Key})
					}
					return call, reqs, nil
				case q.Has("uploads"):
					return call, one("s3:ListBucketMultipartUploads", bucketARN), nil
				case q.Has("location"):
					return call, one("s3:GetBucketLocation", bucketARN), nil
				case r.Method == http.MethodGet || r.Method == http.MethodHead:
					req := Request{Action: "s3:ListBucket", Resource: bucketARN}
					if q.Has("prefix") {
						req.Context = map[string][]string{"s3:prefix": {q.Get("prefix")}}
					}
					return call, []Request{req}, nil
				}
				return call, one("s3:"+strings.ToLower(r.Method)+"Bucket", bucketARN), nil
			}
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				if q.Has("uploadId") {
					return call, one("s3:ListMultipartUploadParts", object), nil
				}
				return call, one("s3:GetObject", object), nil
			case http.MethodPut:
				reqs := one("s3:PutObject", object)
				if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && !q.Has("partNumber") {
					src, _ = url.PathUnescape(strings.TrimPrefix(src, "/"))
					reqs = append(reqs, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::" + src})
				}
				return call, reqs, nil
			case http.MethodPost:
				return call, one("s3:PutObject", object), nil
			case http.MethodDelete:
				if q.Has("uploadId") {
					return call, one("s3:AbortMultipartUpload", object), nil
				}
				return call, one("s3:DeleteObject", object), nil
			}
			return call, one("s3:"+r.Method, object), nil
		}}
}

func s3Refusal(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>%s</Message></Error>", xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// SageMakerRuntime derives sagemaker:InvokeEndpoint on the endpoint's ARN
// (POST /endpoints/<name>/invocations; endpoint ARNs are lower case).
func SageMakerRuntime() Service {
	return Service{Name: "SageMakerRuntime", refuse: restJSONRefusal,
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
			if len(parts) != 3 || parts[0] != "endpoints" {
				return "SageMakerRuntime " + r.URL.Path, nil, fmt.Errorf("not an endpoint call: %s", r.URL.Path)
			}
			op := map[string]string{"invocations": "InvokeEndpoint", "async-invocations": "InvokeEndpointAsync",
				"invocations-response-stream": "InvokeEndpointWithResponseStream"}[parts[2]]
			return op, []Request{{Action: "sagemaker:" + op,
				Resource: arnPrefix + "sagemaker:" + regionAccount() + "endpoint/" + strings.ToLower(parts[1])}}, nil
		}}
}

func restJSONRefusal(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
	w.WriteHeader(http.StatusForbidden)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// OpenSearch derives an OpenSearch Service domain's HTTP actions
// (es:ESHttpGet, ESHttpPut, ESHttpPost, ESHttpDelete, ESHttpHead,
// ESHttpPatch) on domainARN + the request's path ("Identity and Access
// Management in Amazon OpenSearch Service": resource-level permissions name
// the domain and the index path).
func OpenSearch(domainARN string) Service {
	return Service{Name: "OpenSearch", refuse: openSearchRefusal,
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			method := strings.ToUpper(r.Method[:1]) + strings.ToLower(r.Method[1:])
			return r.Method + " " + r.URL.Path, []Request{{Action: "es:ESHttp" + method, Resource: domainARN + r.URL.Path}}, nil
		}}
}

// OpenSearchServerless derives aoss:APIAccessAll on the collection (data
// access is then governed by the collection's data access policy).
func OpenSearchServerless(collectionARN string) Service {
	return Service{Name: "OpenSearchServerless", refuse: openSearchRefusal,
		derive: func(r *http.Request, body []byte) (string, []Request, error) {
			return r.Method + " " + r.URL.Path, []Request{{Action: "aoss:APIAccessAll", Resource: collectionARN}}, nil
		}}
}

func openSearchRefusal(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	json.NewEncoder(w).Encode(map[string]string{"Message": msg})
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
