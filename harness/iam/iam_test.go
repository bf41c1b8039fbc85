package iam

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/scenedex/scenedex/harness/template"
)

const table = "arn:aws:dynamodb:us-east-1:123456789012:table/catalog"

func TestEvaluate(t *testing.T) {
	allow := func(actions, resources []string) template.Statement {
		return template.Statement{Effect: "Allow", Action: actions, Resource: resources}
	}
	rw := allow([]string{"dynamodb:GetItem", "dynamodb:PutItem"}, []string{table})
	indexes := allow([]string{"dynamodb:Query"}, []string{table, table + "/index/*"})
	stateOnly := template.Statement{Effect: "Allow", Action: []string{"dynamodb:PutItem"}, Resource: []string{table},
		Condition: map[string]map[string][]string{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": {"record#index-state"}}}}
	listUploads := template.Statement{Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{"arn:aws:s3:::media"},
		Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {"uploads/*"}}}}
	denyDelete := template.Statement{Effect: "Deny", Action: []string{"dynamodb:Delete*"}, Resource: []string{"*"}}
	allButDelete := template.Statement{Effect: "Allow", NotAction: []string{"dynamodb:DeleteItem"}, Resource: []string{"*"}}
	notTable := template.Statement{Effect: "Allow", Action: []string{"dynamodb:*"}, NotResource: []string{table}}
	notPrefix := template.Statement{Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{"*"},
		Condition: map[string]map[string][]string{"StringNotLike": {"s3:prefix": {"private/*", "secret/*"}}}}
	for _, tc := range []struct {
		name   string
		policy []template.Statement
		req    Request
		want   Decision
	}{
		{"allowed action", []template.Statement{rw}, Request{Action: "dynamodb:GetItem", Resource: table}, Allow},
		{"action names ignore case", []template.Statement{rw}, Request{Action: "DynamoDB:getitem", Resource: table}, Allow},
		{"no statement: implicit deny", []template.Statement{rw}, Request{Action: "dynamodb:Query", Resource: table}, ImplicitDeny},
		{"an index is not the table", []template.Statement{rw, allow([]string{"dynamodb:Query"}, []string{table})},
			Request{Action: "dynamodb:Query", Resource: table + "/index/by-key"}, ImplicitDeny},
		{"index wildcard", []template.Statement{indexes}, Request{Action: "dynamodb:Query", Resource: table + "/index/by-key"}, Allow},
		{"resources keep case", []template.Statement{rw}, Request{Action: "dynamodb:GetItem", Resource: strings.ToUpper(table)}, ImplicitDeny},
		{"? is one character", []template.Statement{allow([]string{"sqs:SendMessage"}, []string{"arn:aws:sqs:*:*:q?"})},
			Request{Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q1"}, Allow},
		{"? is not two", []template.Statement{allow([]string{"sqs:SendMessage"}, []string{"arn:aws:sqs:*:*:q?"})},
			Request{Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q12"}, ImplicitDeny},
		{"action wildcard", []template.Statement{allow([]string{"sqs:*"}, []string{"*"})}, Request{Action: "sqs:ReceiveMessage", Resource: "x"}, Allow},
		{"explicit deny wins", []template.Statement{allow([]string{"dynamodb:*"}, []string{"*"}), denyDelete},
			Request{Action: "dynamodb:DeleteItem", Resource: table}, ExplicitDeny},
		{"NotAction", []template.Statement{allButDelete}, Request{Action: "dynamodb:DeleteItem", Resource: table}, ImplicitDeny},
		{"NotAction allows the rest", []template.Statement{allButDelete}, Request{Action: "dynamodb:PutItem", Resource: table}, Allow},
		{"NotResource", []template.Statement{notTable}, Request{Action: "dynamodb:PutItem", Resource: table}, ImplicitDeny},
		{"leading key allowed", []template.Statement{stateOnly},
			Request{Action: "dynamodb:PutItem", Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": {"record#index-state"}}}, Allow},
		{"another leading key", []template.Statement{stateOnly},
			Request{Action: "dynamodb:PutItem", Resource: table, Context: map[string][]string{"dynamodb:LeadingKeys": {"v1"}}}, ImplicitDeny},
		{"ForAllValues of an absent key holds", []template.Statement{stateOnly}, Request{Action: "dynamodb:PutItem", Resource: table}, Allow},
		{"s3:prefix like", []template.Statement{listUploads},
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::media", Context: map[string][]string{"s3:prefix": {"uploads/a/"}}}, Allow},
		{"s3:prefix unlike", []template.Statement{listUploads},
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::media", Context: map[string][]string{"s3:prefix": {"chunks/"}}}, ImplicitDeny},
		{"StringLike of an absent key fails", []template.Statement{listUploads}, Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::media"}, ImplicitDeny},
		{"negated: none of the values", []template.Statement{notPrefix},
			Request{Action: "s3:ListBucket", Resource: "b", Context: map[string][]string{"s3:prefix": {"secret/x"}}}, ImplicitDeny},
		{"negated: other value", []template.Statement{notPrefix},
			Request{Action: "s3:ListBucket", Resource: "b", Context: map[string][]string{"s3:prefix": {"public/x"}}}, Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Evaluate(tc.policy, tc.req); got != tc.want {
				t.Errorf("%+v: %v, want %v", tc.req, got, tc.want)
			}
		})
	}
}

// TestGuard: the real SDK clients, each with a function's credentials,
// through the guard to a stand-in that answers every call: an allowed call
// reaches it; a refused one comes back as AWS's AccessDenied error and is
// recorded with the function, the call and the missing statement.
func TestGuard(t *testing.T) {
	embed := Principal{Name: "embed", AccessKey: "AKIDEMBED", Secret: "s1", Policy: []template.Statement{
		{Effect: "Allow", Action: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, Resource: []string{table}},
		{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: []string{"arn:aws:s3:::media/chunks/*"}},
	}}
	api := Principal{Name: "api", AccessKey: "AKIDAPI", Secret: "s2", Policy: []template.Statement{
		{Effect: "Allow", Action: []string{"sqs:SendMessage"}, Resource: []string{"arn:aws:sqs:us-east-1:123456789012:chunks"}},
	}}
	g := NewGuard(embed, api)
	reached := 0
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{"Successful":[],"Failed":[]}`))
			return
		}
		if r.Header.Get("X-Amz-Target") != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{}`))
			return
		}
		w.Write([]byte("frame"))
	})
	ddbSrv := httptest.NewServer(g.Wrap(DynamoDB(map[string]string{"catalog": "pk"}), ok))
	defer ddbSrv.Close()
	s3Srv := httptest.NewServer(g.Wrap(S3(), ok))
	defer s3Srv.Close()
	sqsSrv := httptest.NewServer(g.Wrap(SQS(), ok))
	defer sqsSrv.Close()
	cfg := func(p Principal, url string) aws.Config {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(p.AccessKey, p.Secret, ""),
			BaseEndpoint: aws.String(url), RetryMaxAttempts: 1}
	}
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(cfg(embed, ddbSrv.URL))
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "v1"}, "sk": &types.AttributeValueMemberS{Value: "video"}}
	if _, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("catalog"), Key: key}); err != nil {
		t.Fatalf("allowed GetItem: %v", err)
	}
	_, err := ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("catalog"), IndexName: aws.String("by-key"),
		KeyConditionExpression: aws.String("#k = :k"), ExpressionAttributeNames: map[string]string{"#k": "key"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: "uploads/a"}}})
	var api1 smithy.APIError
	if !errors.As(err, &api1) || api1.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("refused Query: %v, want AccessDeniedException", err)
	}
	// A transaction is its items' actions: the Update is allowed, the
	// ConditionCheck is not.
	_, err = ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String("catalog"), Key: key, UpdateExpression: aws.String("SET n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "1"}}}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("catalog"), Key: key, ConditionExpression: aws.String("attribute_exists(pk)")}},
	}})
	if err == nil {
		t.Fatal("a transaction with a ConditionCheck its policy lacks went through")
	}
	s3c := s3.NewFromConfig(cfg(embed, s3Srv.URL), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String("chunks/v1/0/f0.jpg")}); err != nil {
		t.Fatalf("allowed GetObject: %v", err)
	}
	_, err = s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String("uploads/a.mp4")})
	if !errors.As(err, &api1) || api1.ErrorCode() != "AccessDenied" {
		t.Fatalf("refused GetObject: %v, want AccessDenied", err)
	}
	q := sqs.NewFromConfig(cfg(api, sqsSrv.URL))
	if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String("https://sqs.us-east-1.amazonaws.com/123456789012/chunks"),
		Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}}); err != nil {
		t.Fatalf("SendMessageBatch, allowed by sqs:SendMessage: %v", err)
	}
	if reached != 3 {
		t.Errorf("%d calls reached the stand-in, want 3 (the allowed ones)", reached)
	}
	got := g.Violations()
	want := []string{
		"embed: DynamoDB Query: dynamodb:Query is refused (implicit deny); missing statement " +
			`{"Action":["dynamodb:Query"],"Effect":"Allow","Resource":["` + table + `/index/by-key"]}`,
		"embed: DynamoDB TransactWriteItems: dynamodb:ConditionCheckItem is refused",
		"embed: S3 S3 GET /media/uploads/a.mp4: s3:GetObject is refused",
	}
	if len(got) != len(want) {
		t.Fatalf("violations %v", got)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("violation %d:\n %s\nwant prefix\n %s", i, got[i], w)
		}
	}
	if got[1].Request.Context["dynamodb:LeadingKeys"][0] != "v1" {
		t.Errorf("transaction item's leading key %v", got[1].Request.Context)
	}
}

func TestQueueARN(t *testing.T) {
	got, err := QueueARN("https://sqs.us-east-1.amazonaws.com/123456789012/scenedex-Chunks")
	if err != nil || got != "arn:aws:sqs:us-east-1:123456789012:scenedex-Chunks" {
		t.Errorf("%s %v", got, err)
	}
}
