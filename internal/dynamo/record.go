package dynamo

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Records are small items of the deployment's own beside the videos (the
// OpenSearch index's state: osindex.StateStore), under optimistic locking.
// Their keys (pk = "record#<name>", sk = "record") carry none of the
// indexes' attributes, so no listing of videos sees them.
const recordSK = "record"

func recordKey(name string) map[string]types.AttributeValue { return key("record#"+name, recordSK) }

// GetRecord reads record name: its data and version (0: not written yet).
// The read is strongly consistent.
func (c *Catalog) GetRecord(ctx context.Context, name string) ([]byte, int, error) {
	out, err := c.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.Table), Key: recordKey(name),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, wrap(err, "read record %s", name)
	}
	if out.Item == nil {
		return nil, 0, nil
	}
	data, _ := out.Item["data"].(*types.AttributeValueMemberS)
	ver, _ := out.Item["version"].(*types.AttributeValueMemberN)
	if data == nil || ver == nil {
		return nil, 0, scenedex.Errorf(scenedex.CodeUnavailable, "record %s is malformed", name)
	}
	v, err := strconv.Atoi(ver.Value)
	if err != nil {
		return nil, 0, scenedex.Errorf(scenedex.CodeUnavailable, "record %s has version %q", name, ver.Value)
	}
	return []byte(data.Value), v, nil
}

// PutRecord writes record name as version+1 if it is still at version;
// CodeConflict if another writer got there first.
func (c *Catalog) PutRecord(ctx context.Context, name string, data []byte, version int) error {
	item := recordKey(name)
	item["data"] = &types.AttributeValueMemberS{Value: string(data)}
	item["version"] = &types.AttributeValueMemberN{Value: strconv.Itoa(version + 1)}
	in := &dynamodb.PutItemInput{TableName: aws.String(c.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if version > 0 {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}}
	}
	_, err := c.Client.PutItem(ctx, in)
	if isConditionFailed(err) {
		return scenedex.Errorf(scenedex.CodeConflict, "record %s changed meanwhile", name)
	}
	if err != nil {
		return wrap(err, "write record %s", name)
	}
	return nil
}
