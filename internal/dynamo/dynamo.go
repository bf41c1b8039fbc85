// Package dynamo is the catalog on Amazon DynamoDB: one item per video
// (pk=<video id>, sk="video") and one per finished chunk (sk="chunk#<n>"),
// optimistic locking on a version attribute, idempotent chunk completion in a
// transaction, and the workflow's task token kept on the video item.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// API is the subset of the DynamoDB client used.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Catalog implements scenedex.Catalog.
type Catalog struct {
	Client API
	Table  string
	// CollectionIndex is the GSI on (collection, created_at) over video items.
	CollectionIndex string
	// Tries bounds optimistic-lock retries in Update.
	Tries int
	Now   func() time.Time
}

var _ scenedex.Catalog = (*Catalog)(nil)

// New returns a catalog on table.
func New(client API, table string) *Catalog {
	return &Catalog{Client: client, Table: table, CollectionIndex: "by-collection", Tries: 8, Now: time.Now}
}

const (
	videoSK   = "video"
	tokenAttr = "task_token"
)

func key(id, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}, "sk": &types.AttributeValueMemberS{Value: sk}}
}

func chunkSK(i int) string { return fmt.Sprintf("chunk#%06d", i) }

// The sparse indexes' key attributes and names (infra/stack.go makes them).
const (
	entityAttr   = "entity"
	pendingAttr  = "pending"
	VideosIndex  = "by-created" // entity = "video", newest first by created_at
	PendingIndex = "pending"    // pending = "UPLOADING", by updated_at
	KeyIndex     = "by-key"     // key = the video's object key (only video items have one)
)

// timeLayout is RFC 3339 with a fixed-width fraction, so stored times sort
// as text (the by-collection index orders by created_at).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func jsonTags(o *attributevalue.EncoderOptions) {
	o.TagKey = "json"
	o.EncodeTime = func(t time.Time) (types.AttributeValue, error) {
		return &types.AttributeValueMemberS{Value: t.UTC().Format(timeLayout)}, nil
	}
}

func jsonTagsDec(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// item renders a video as its DynamoDB item, keeping extra attributes
// (the task token) of the stored item.
func item(v scenedex.Video, version int, keep map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMapWithOptions(v, jsonTags)
	if err != nil {
		return nil, fmt.Errorf("marshal video %s: %w", v.ID, err)
	}
	m["pk"] = &types.AttributeValueMemberS{Value: v.ID}
	m["sk"] = &types.AttributeValueMemberS{Value: videoSK}
	m["version"] = &types.AttributeValueMemberN{Value: strconv.Itoa(version)}
	// Sparse index keys: only video items carry "entity" (the all-videos
	// index), only UPLOADING and DELETING ones "pending" (the sweep's index,
	// by status); chunk items carry neither, so neither index grows with
	// chunks.
	m[entityAttr] = &types.AttributeValueMemberS{Value: videoSK}
	if pending(v.Status) {
		m[pendingAttr] = &types.AttributeValueMemberS{Value: string(v.Status)}
	}
	if t, ok := keep[tokenAttr]; ok {
		m[tokenAttr] = t
	}
	return m, nil
}

// pending reports whether videos in status s are in the pending index: the
// states the sweep finishes when their step was cut short.
func pending(s scenedex.Status) bool {
	return s == scenedex.StatusUploading || s == scenedex.StatusDeleting
}

func decode(m map[string]types.AttributeValue) (scenedex.Video, int, error) {
	var v scenedex.Video
	if err := attributevalue.UnmarshalMapWithOptions(m, &v, jsonTagsDec); err != nil {
		return v, 0, fmt.Errorf("unmarshal video: %w", err)
	}
	version := 0
	if n, ok := m["version"].(*types.AttributeValueMemberN); ok {
		version, _ = strconv.Atoi(n.Value)
	}
	return v, version, nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func wrap(err error, format string, args ...any) error {
	return scenedex.Wrap(scenedex.CodeUnavailable, err, format, args...)
}

// Create stores a new video.
func (c *Catalog) Create(ctx context.Context, v scenedex.Video) error {
	now := c.Now().UTC()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	v.UpdatedAt = now
	m, err := item(v, 1, nil)
	if err != nil {
		return err
	}
	_, err = c.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.Table), Item: m,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if isConditionFailed(err) {
		return scenedex.Errorf(scenedex.CodeConflict, "video %s already exists", v.ID)
	}
	if err != nil {
		return wrap(err, "create video %s", v.ID)
	}
	return nil
}

func (c *Catalog) getRaw(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	out, err := c.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.Table), Key: key(id, videoSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, wrap(err, "get video %s", id)
	}
	if len(out.Item) == 0 {
		return nil, scenedex.Errorf(scenedex.CodeNotFound, "video %q not found", id)
	}
	return out.Item, nil
}

// Get returns a video.
func (c *Catalog) Get(ctx context.Context, id string) (scenedex.Video, error) {
	m, err := c.getRaw(ctx, id)
	if err != nil {
		return scenedex.Video{}, err
	}
	v, _, err := decode(m)
	return v, err
}

// List returns a page of videos, newest first: of a collection through the
// by-collection index, or all through the sparse by-created index — queries,
// never a scan over chunk items. The cursor is DynamoDB's LastEvaluatedKey.
func (c *Catalog) List(ctx context.Context, lq scenedex.ListQuery) (scenedex.VideoPage, error) {
	limit, err := lq.PageSize()
	if err != nil {
		return scenedex.VideoPage{}, err
	}
	start, err := decodeCursor(lq.Cursor)
	if err != nil {
		return scenedex.VideoPage{}, err
	}
	in := &dynamodb.QueryInput{TableName: aws.String(c.Table), ScanIndexForward: aws.Bool(false),
		Limit: aws.Int32(int32(limit)), ExclusiveStartKey: start}
	if lq.Collection != "" {
		in.IndexName, in.KeyConditionExpression = aws.String(c.CollectionIndex), aws.String("#k = :k")
		in.ExpressionAttributeNames = map[string]string{"#k": "collection"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: lq.Collection}}
	} else {
		in.IndexName, in.KeyConditionExpression = aws.String(VideosIndex), aws.String("#k = :k")
		in.ExpressionAttributeNames = map[string]string{"#k": entityAttr}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: videoSK}}
	}
	out, err := c.Client.Query(ctx, in)
	if err != nil {
		return scenedex.VideoPage{}, wrap(err, "list videos")
	}
	page := scenedex.VideoPage{Videos: []scenedex.Video{}}
	for _, m := range out.Items {
		v, _, err := decode(m)
		if err != nil {
			return page, err
		}
		page.Videos = append(page.Videos, v)
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next = encodeCursor(out.LastEvaluatedKey)
	}
	return page, nil
}

// A cursor is the LastEvaluatedKey's string attributes as base64url JSON.
func encodeCursor(key map[string]types.AttributeValue) string {
	flat := map[string]string{}
	for k, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			flat[k] = s.Value
		}
	}
	b, _ := json.Marshal(flat)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(cursor string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	var flat map[string]string
	if err != nil || json.Unmarshal(b, &flat) != nil || flat["pk"] == "" {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "cursor %q is not one this server gave", cursor)
	}
	key := map[string]types.AttributeValue{}
	for k, v := range flat {
		key[k] = &types.AttributeValueMemberS{Value: v}
	}
	return key, nil
}

// Update applies fn with optimistic locking, retrying on a concurrent write.
// A DELETING record (a tombstone) is not changed: CodeNotFound, as if gone.
func (c *Catalog) Update(ctx context.Context, id string, fn func(*scenedex.Video) error) (scenedex.Video, error) {
	for try := 1; ; try++ {
		m, err := c.getRaw(ctx, id)
		if err != nil {
			return scenedex.Video{}, err
		}
		v, version, err := decode(m)
		if err != nil {
			return v, err
		}
		if v.Status == scenedex.StatusDeleting {
			return v, scenedex.BeingDeleted(id) // a tombstone changes no more
		}
		if err := fn(&v); err != nil {
			return v, err
		}
		v.ID = id
		v.UpdatedAt = c.Now().UTC()
		next, err := item(v, version+1, m)
		if err != nil {
			return v, err
		}
		_, err = c.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.Table), Item: next,
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}}})
		if err == nil {
			return v, nil
		}
		if !isConditionFailed(err) {
			return v, wrap(err, "update video %s", id)
		}
		if try >= max(c.Tries, 1) {
			return v, scenedex.Errorf(scenedex.CodeUnavailable, "update video %s: still contended after %d tries", id, try)
		}
	}
}

// Delete removes the video item and its chunk items.
func (c *Catalog) Delete(ctx context.Context, id string) error {
	var keys []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		page, err := c.Client.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(c.Table),
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: id}},
			ProjectionExpression:      aws.String("pk, sk"), ExclusiveStartKey: start})
		if err != nil {
			return wrap(err, "delete video %s", id)
		}
		keys = append(keys, page.Items...)
		if start = page.LastEvaluatedKey; len(start) == 0 {
			break
		}
	}
	if len(keys) == 0 {
		return scenedex.Errorf(scenedex.CodeNotFound, "video %q not found", id)
	}
	for i := 0; i < len(keys); i += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, k := range keys[i:min(i+25, len(keys))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt == 5 {
				return scenedex.Errorf(scenedex.CodeUnavailable, "delete video %s: %d items left unprocessed", id, len(reqs))
			}
			out, err := c.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{c.Table: reqs}})
			if err != nil {
				return wrap(err, "delete video %s", id)
			}
			reqs = out.UnprocessedItems[c.Table]
		}
	}
	return nil
}

// Stale returns the UPLOADING (or DELETING) videos not updated since before,
// through the sparse pending index: the sweep reads only uploads and deletes
// in progress, never the table. Other statuses have no index and are refused.
func (c *Catalog) Stale(ctx context.Context, s scenedex.Status, before time.Time) ([]scenedex.Video, error) {
	if !pending(s) {
		return nil, fmt.Errorf("stale %s videos: only UPLOADING and DELETING ones are indexed", s)
	}
	return c.queryAll(ctx, "query stale "+strings.ToLower(string(s))+" videos", &dynamodb.QueryInput{TableName: aws.String(c.Table), IndexName: aws.String(PendingIndex),
		KeyConditionExpression:   aws.String("#p = :p AND updated_at < :t"),
		ExpressionAttributeNames: map[string]string{"#p": pendingAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: string(s)},
			":t": &types.AttributeValueMemberS{Value: before.UTC().Format(timeLayout)}}})
}

// queryAll runs a query of video items through every page.
func (c *Catalog) queryAll(ctx context.Context, what string, in *dynamodb.QueryInput) ([]scenedex.Video, error) {
	out := []scenedex.Video{}
	for {
		page, err := c.Client.Query(ctx, in)
		if err != nil {
			return nil, wrap(err, "%s", what)
		}
		for _, m := range page.Items {
			v, _, err := decode(m)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if in.ExclusiveStartKey = page.LastEvaluatedKey; len(in.ExclusiveStartKey) == 0 {
			return out, nil
		}
	}
}

// ByKey returns the videos whose object is key, through the by-key index.
func (c *Catalog) ByKey(ctx context.Context, key string) ([]scenedex.Video, error) {
	return c.queryAll(ctx, "query videos of key "+key, &dynamodb.QueryInput{TableName: aws.String(c.Table), IndexName: aws.String(KeyIndex),
		KeyConditionExpression:    aws.String("#k = :k"),
		ExpressionAttributeNames:  map[string]string{"#k": "key"}, // a reserved word
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: key}}})
}

// ChunkDone marks chunk i done, once: a transaction puts the chunk item only
// if it is new and counts it on the video.
func (c *Catalog) ChunkDone(ctx context.Context, videoID string, i int) (scenedex.Video, error) {
	chunk := key(videoID, chunkSK(i))
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(c.Table), Item: chunk, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{TableName: aws.String(c.Table), Key: key(videoID, videoSK),
			UpdateExpression: aws.String("ADD chunks_done :one, version :one"),
			// A tombstone counts no more chunks: to the step, the video is gone.
			ConditionExpression:      aws.String("attribute_exists(pk) AND #s <> :deleting"),
			ExpressionAttributeNames: map[string]string{"#s": "status"}, // a reserved word
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"},
				":deleting": &types.AttributeValueMemberS{Value: string(scenedex.StatusDeleting)}}}},
	}}
	var err error
	var tce *types.TransactionCanceledException
	// Chunks of one video finishing together conflict on its record
	// (TransactionConflict), which the SDK does not retry: retry here, with
	// full-jitter backoff, before the message goes back to the queue.
	for attempt := 0; ; attempt++ {
		_, err = c.Client.TransactWriteItems(ctx, in)
		if !errors.As(err, &tce) || !conflict(tce) || attempt == conflictRetries {
			break
		}
		select {
		case <-ctx.Done():
			return scenedex.Video{}, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(conflictBackoff) << attempt))):
		}
	}
	switch {
	case err == nil:
	case errors.As(err, &tce):
		reasons := tce.CancellationReasons
		if len(reasons) == 2 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed" {
			return scenedex.Video{}, scenedex.Errorf(scenedex.CodeNotFound, "video %q not found or being deleted", videoID)
		}
		if len(reasons) == 0 || aws.ToString(reasons[0].Code) != "ConditionalCheckFailed" {
			return scenedex.Video{}, wrap(err, "chunk %d of %s done", i, videoID)
		}
		// The chunk was counted before: a duplicate delivery.
	default:
		return scenedex.Video{}, wrap(err, "chunk %d of %s done", i, videoID)
	}
	return c.Get(ctx, videoID)
}

// How often and how long ChunkDone retries a transaction conflict.
const (
	conflictRetries = 8
	conflictBackoff = 20 * time.Millisecond
)

// conflict reports whether a cancelled transaction lost a race with another
// one (and only that: a failed condition is an answer, not a conflict).
func conflict(tce *types.TransactionCanceledException) bool {
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}

// SetTaskToken stores the workflow's task token on the video.
func (c *Catalog) SetTaskToken(ctx context.Context, videoID, token string) (scenedex.Video, error) {
	out, err := c.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(c.Table), Key: key(videoID, videoSK),
		UpdateExpression:         aws.String("SET #t = :t ADD version :one"),
		ConditionExpression:      aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#t": tokenAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: token},
			":one": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValues: types.ReturnValueAllNew})
	if isConditionFailed(err) {
		return scenedex.Video{}, scenedex.Errorf(scenedex.CodeNotFound, "video %q not found", videoID)
	}
	if err != nil {
		return scenedex.Video{}, wrap(err, "store task token of %s", videoID)
	}
	v, _, err := decode(out.Attributes)
	return v, err
}

// TaskToken returns the stored task token ("" if none).
func (c *Catalog) TaskToken(ctx context.Context, videoID string) (string, error) {
	m, err := c.getRaw(ctx, videoID)
	if err != nil {
		return "", err
	}
	if t, ok := m[tokenAttr].(*types.AttributeValueMemberS); ok {
		return t.Value, nil
	}
	return "", nil
}
