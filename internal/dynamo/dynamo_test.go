package dynamo

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// The fake stands in for Amazon DynamoDB (JSON 1.0 protocol): handlers check
// the request bodies DynamoDB documents (keys, condition and update
// expressions) and answer with its documented responses and errors.

func wireVideo(id string, status scenedex.Status, version, done int, token string) map[string]any {
	m := map[string]any{
		"pk": map[string]any{"S": id}, "sk": map[string]any{"S": "video"}, "id": map[string]any{"S": id},
		"collection": map[string]any{"S": "ads"}, "status": map[string]any{"S": string(status)},
		"chunks_total": map[string]any{"N": "3"}, "chunks_done": map[string]any{"N": itoa(done)},
		"version": map[string]any{"N": itoa(version)},
	}
	if token != "" {
		m["task_token"] = map[string]any{"S": token}
	}
	return m
}

func itoa(i int) string { return strconv.Itoa(i) }

func newCatalog(fake *awsfake.Server) *Catalog {
	return New(dynamodb.NewFromConfig(fake.Config()), "scenedex")
}

var ccf = awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}

func TestCreateConflict(t *testing.T) {
	fake := awsfake.New(t)
	n := 0
	fake.On("PutItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		n++
		if awsfake.String(b, "ConditionExpression") != "attribute_not_exists(pk)" || awsfake.String(b, "Item", "sk", "S") != "video" ||
			awsfake.String(b, "Item", "version", "N") != "1" || awsfake.String(b, "Item", "collection", "S") != "ads" {
			t.Errorf("PutItem body %v", b)
		}
		if n == 2 {
			return ccf
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	c := newCatalog(fake)
	v := scenedex.Video{ID: "v1", Collection: "ads", Status: scenedex.StatusUploading}
	if err := c.Create(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), v); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Fatalf("second create: %v", err)
	}
}

func TestUpdateRetriesOnConcurrentWriteAndKeepsToken(t *testing.T) {
	fake := awsfake.New(t)
	gets := 0
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		gets++
		if b["ConsistentRead"] != true || awsfake.String(b, "Key", "pk", "S") != "v1" {
			t.Errorf("GetItem body %v", b)
		}
		return awsfake.Reply{Body: map[string]any{"Item": wireVideo("v1", scenedex.StatusProcessing, gets, 1, "tok-123")}}
	})
	puts := 0
	fake.On("PutItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		puts++
		want := itoa(puts)
		if awsfake.String(b, "ConditionExpression") != "version = :v" || awsfake.String(b, "ExpressionAttributeValues", ":v", "N") != want {
			t.Errorf("put %d condition %v", puts, b)
		}
		if awsfake.String(b, "Item", "task_token", "S") != "tok-123" {
			t.Errorf("task token dropped: %v", b["Item"])
		}
		if puts == 1 {
			return ccf // someone else wrote in between
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	v, err := newCatalog(fake).Update(context.Background(), "v1", func(v *scenedex.Video) error {
		v.Status = scenedex.StatusReady
		return nil
	})
	if err != nil || v.Status != scenedex.StatusReady || puts != 2 || gets != 2 {
		t.Fatalf("update: %+v %v (puts %d gets %d)", v, err, puts, gets)
	}
}

func TestChunkDoneIsIdempotent(t *testing.T) {
	fake := awsfake.New(t)
	done := map[string]bool{}
	count := 0
	fake.On("TransactWriteItems", func(t *testing.T, b map[string]any) awsfake.Reply {
		put, upd := awsfake.Field(b, "TransactItems", 0, "Put"), awsfake.Field(b, "TransactItems", 1, "Update")
		if awsfake.String(put, "ConditionExpression") != "attribute_not_exists(pk)" ||
			awsfake.String(upd, "UpdateExpression") != "ADD chunks_done :one, version :one" {
			t.Errorf("transaction %v", b)
		}
		if awsfake.String(upd, "Key", "pk", "S") == "gone" {
			return awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				Body: map[string]any{"__type": "TransactionCanceledException", "Message": "Transaction cancelled",
					"CancellationReasons": []any{map[string]any{"Code": "None"}, map[string]any{"Code": "ConditionalCheckFailed"}}}}
		}
		sk := awsfake.String(put, "Item", "sk", "S")
		if done[sk] {
			return awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				Body: map[string]any{"__type": "TransactionCanceledException", "Message": "Transaction cancelled",
					"CancellationReasons": []any{map[string]any{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}, map[string]any{"Code": "None"}}}}
		}
		done[sk] = true
		count++
		return awsfake.Reply{Body: map[string]any{}}
	})
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		return awsfake.Reply{Body: map[string]any{"Item": wireVideo("v1", scenedex.StatusProcessing, 1, count, "")}}
	})
	c := newCatalog(fake)
	ctx := context.Background()
	var v scenedex.Video
	var err error
	for _, i := range []int{0, 1, 1, 2, 0} { // duplicates of 1 and 0
		if v, err = c.ChunkDone(ctx, "v1", i); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if v.ChunksDone != 3 || count != 3 {
		t.Fatalf("done %d (counted %d), want 3", v.ChunksDone, count)
	}
	if _, err := c.ChunkDone(ctx, "gone", 0); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("unknown video: %v", err)
	}
}

func TestGetUnknownAndThrottling(t *testing.T) {
	fake := awsfake.New(t)
	calls := 0
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		calls++
		if awsfake.String(b, "Key", "pk", "S") == "busy" {
			return awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	c := newCatalog(fake)
	if _, err := c.Get(context.Background(), "nope"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("unknown: %v", err)
	}
	calls = 0
	if _, err := c.Get(context.Background(), "busy"); scenedex.ErrorCode(err) != scenedex.CodeUnavailable || calls != 3 {
		t.Fatalf("throttled: %v after %d calls (the SDK retries throttling)", err, calls)
	}
}

// The sweep reads UPLOADING videos from the sparse pending index, all pages,
// never scanning the table (which holds an item per chunk).
func TestStaleQueriesThePendingIndex(t *testing.T) {
	fake := awsfake.New(t)
	page := 0
	fake.On("Query", func(t *testing.T, b map[string]any) awsfake.Reply {
		page++
		if awsfake.String(b, "IndexName") != PendingIndex || awsfake.String(b, "KeyConditionExpression") != "#p = :p AND updated_at < :t" ||
			awsfake.String(b, "ExpressionAttributeValues", ":p", "S") != "UPLOADING" ||
			!strings.HasPrefix(awsfake.String(b, "ExpressionAttributeValues", ":t", "S"), "2026-01-01T00:00:00") {
			t.Errorf("query %v", b)
		}
		if page == 1 {
			if b["ExclusiveStartKey"] != nil {
				t.Error("first page with a start key")
			}
			return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("a", scenedex.StatusUploading, 1, 0, "")},
				"LastEvaluatedKey": map[string]any{"pk": map[string]any{"S": "a"}, "sk": map[string]any{"S": "video"}}}}
		}
		if awsfake.String(b, "ExclusiveStartKey", "pk", "S") != "a" {
			t.Errorf("second page does not continue: %v", b["ExclusiveStartKey"])
		}
		return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("b", scenedex.StatusUploading, 1, 0, "")}}}
	})
	vs, err := newCatalog(fake).Stale(context.Background(), scenedex.StatusUploading, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(vs) != 2 || vs[1].ID != "b" {
		t.Fatalf("stale %+v %v", vs, err)
	}
	if len(fake.Calls("Scan")) != 0 {
		t.Error("scanned the table")
	}
}

// Only video items carry the sparse keys, and only UPLOADING ones "pending".
func TestSparseIndexKeys(t *testing.T) {
	up, _ := item(scenedex.Video{ID: "a", Status: scenedex.StatusUploading}, 1, nil)
	ready, _ := item(scenedex.Video{ID: "a", Status: scenedex.StatusReady}, 2, nil)
	if up[pendingAttr] == nil || ready[pendingAttr] != nil || up[entityAttr] == nil || ready[entityAttr] == nil {
		t.Fatalf("uploading %v, ready %v", up, ready)
	}
	if key("a", chunkSK(3))[entityAttr] != nil {
		t.Fatal("chunk items in the all-videos index")
	}
}

// Listing pages through the right index with a cursor that round-trips.
func TestListPages(t *testing.T) {
	fake := awsfake.New(t)
	fake.On("Query", func(t *testing.T, b map[string]any) awsfake.Reply {
		if b["ScanIndexForward"] != false || awsfake.Field(b, "Limit") != 2.0 {
			t.Errorf("query %v", b)
		}
		switch awsfake.String(b, "IndexName") {
		case VideosIndex:
			if awsfake.String(b, "ExpressionAttributeValues", ":k", "S") != "video" {
				t.Errorf("all videos: %v", b)
			}
			if b["ExclusiveStartKey"] == nil {
				return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("a", scenedex.StatusReady, 1, 0, ""), wireVideo("b", scenedex.StatusReady, 1, 0, "")},
					"LastEvaluatedKey": map[string]any{"pk": map[string]any{"S": "b"}, "sk": map[string]any{"S": "video"},
						"entity": map[string]any{"S": "video"}, "created_at": map[string]any{"S": "2026-01-01T00:00:00.000000000Z"}}}}
			}
			if awsfake.String(b, "ExclusiveStartKey", "created_at", "S") != "2026-01-01T00:00:00.000000000Z" {
				t.Errorf("cursor lost: %v", b["ExclusiveStartKey"])
			}
			return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("c", scenedex.StatusReady, 1, 0, "")}}}
		case "by-collection":
			return awsfake.Reply{Body: map[string]any{"Items": []any{}}}
		}
		t.Errorf("index %v", b["IndexName"])
		return awsfake.Reply{Body: map[string]any{}}
	})
	c := newCatalog(fake)
	ctx := context.Background()
	first, err := c.List(ctx, scenedex.ListQuery{Limit: 2})
	if err != nil || len(first.Videos) != 2 || first.Next == "" {
		t.Fatalf("first page %+v %v", first, err)
	}
	second, err := c.List(ctx, scenedex.ListQuery{Limit: 2, Cursor: first.Next})
	if err != nil || len(second.Videos) != 1 || second.Videos[0].ID != "c" || second.Next != "" {
		t.Fatalf("second page %+v %v", second, err)
	}
	if p, err := c.List(ctx, scenedex.ListQuery{Collection: "ads", Limit: 2}); err != nil || len(p.Videos) != 0 {
		t.Fatalf("collection %+v %v", p, err)
	}
	if _, err := c.List(ctx, scenedex.ListQuery{Cursor: "%%%"}); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
}

// Stored times are fixed-width, so text order is time order (the GSI sorts
// created_at as a string).
func TestTimesSortAsText(t *testing.T) {
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var prev string
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, time.Second, 1001 * time.Millisecond} {
		m, err := item(scenedex.Video{ID: "v", CreatedAt: base.Add(d)}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := m["created_at"].(*types.AttributeValueMemberS).Value
		if s <= prev {
			t.Errorf("%q does not sort after %q", s, prev)
		}
		prev = s
		v, _, err := decode(m)
		if err != nil || !v.CreatedAt.Equal(base.Add(d)) {
			t.Errorf("round trip of %v: %v %v", base.Add(d), v.CreatedAt, err)
		}
	}
}

// Two chunks of a video finishing at once: DynamoDB cancels one transaction
// with TransactionConflict, which the SDK does not retry. ChunkDone retries
// it and counts the chunk once.
func TestChunkDoneRetriesTransactionConflicts(t *testing.T) {
	fake := awsfake.New(t)
	conflicts, count := 3, 0
	fake.On("TransactWriteItems", func(t *testing.T, b map[string]any) awsfake.Reply {
		if conflicts > 0 {
			conflicts--
			return awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				Body: map[string]any{"__type": "TransactionCanceledException", "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
					"CancellationReasons": []any{map[string]any{"Code": "None"}, map[string]any{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}}}}
		}
		count++
		return awsfake.Reply{Body: map[string]any{}}
	})
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		return awsfake.Reply{Body: map[string]any{"Item": wireVideo("v1", scenedex.StatusProcessing, 1, count, "")}}
	})
	v, err := newCatalog(fake).ChunkDone(context.Background(), "v1", 0)
	if err != nil || count != 1 || v.ChunksDone != 1 || len(fake.Calls("TransactWriteItems")) != 4 {
		t.Fatalf("%+v %v, %d counted, %d calls", v, err, count, len(fake.Calls("TransactWriteItems")))
	}
	// A conflict that does not clear is an error the queue retries.
	conflicts = 100
	if _, err := newCatalog(fake).ChunkDone(context.Background(), "v1", 1); err == nil || scenedex.Permanent(err) {
		t.Fatalf("endless conflict: %v", err)
	}
}

// ByKey queries the by-key index (key is a reserved word: it goes by name),
// following pages; it never scans.
func TestByKeyQueriesTheKeyIndex(t *testing.T) {
	fake := awsfake.New(t)
	page := 0
	fake.On("Query", func(t *testing.T, b map[string]any) awsfake.Reply {
		page++
		if awsfake.String(b, "IndexName") != KeyIndex || awsfake.String(b, "KeyConditionExpression") != "#k = :k" ||
			awsfake.String(b, "ExpressionAttributeNames", "#k") != "key" || awsfake.String(b, "ExpressionAttributeValues", ":k", "S") != "uploads/ads/a b.mp4" {
			t.Errorf("query %v", b)
		}
		if page == 1 {
			return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("a", scenedex.StatusReady, 1, 0, "")},
				"LastEvaluatedKey": map[string]any{"pk": map[string]any{"S": "a"}, "sk": map[string]any{"S": "video"}}}}
		}
		return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("b", scenedex.StatusFailed, 1, 0, "")}}}
	})
	vs, err := newCatalog(fake).ByKey(context.Background(), "uploads/ads/a b.mp4")
	if err != nil || len(vs) != 2 || vs[0].ID != "a" || vs[1].ID != "b" || page != 2 {
		t.Fatalf("by key %+v %v (%d pages)", vs, err, page)
	}
	if len(fake.Calls("Scan")) != 0 {
		t.Error("scanned the table")
	}
}

// Records (the index's state) through the real SDK client: read strongly
// consistent, written only over the version read (the fake plays the
// table's condition checks), so of two writers of one version one wins.
func TestRecords(t *testing.T) {
	fake := awsfake.New(t)
	var stored map[string]any
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		if b["ConsistentRead"] != true || awsfake.String(b, "Key", "pk", "S") != "record#index-state" || awsfake.String(b, "Key", "sk", "S") != "record" {
			t.Errorf("GetItem body %v", b)
		}
		if stored == nil {
			return awsfake.Reply{Body: map[string]any{}}
		}
		return awsfake.Reply{Body: map[string]any{"Item": stored}}
	})
	fake.On("PutItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		cond := awsfake.String(b, "ConditionExpression")
		switch {
		case cond == "attribute_not_exists(pk)" && stored != nil:
			return ccf
		case cond == "version = :v" && (stored == nil || awsfake.String(stored, "version", "N") != awsfake.String(b, "ExpressionAttributeValues", ":v", "N")):
			return ccf
		case cond != "attribute_not_exists(pk)" && cond != "version = :v":
			t.Errorf("PutItem condition %q", cond)
		}
		stored = b["Item"].(map[string]any)
		return awsfake.Reply{Body: map[string]any{}}
	})
	c := newCatalog(fake)
	ctx := context.Background()
	if data, v, err := c.GetRecord(ctx, "index-state"); err != nil || v != 0 || data != nil {
		t.Fatalf("absent record: %q %d %v", data, v, err)
	}
	if err := c.PutRecord(ctx, "index-state", []byte(`{"gen":1}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRecord(ctx, "index-state", []byte(`{"gen":9}`), 0); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Fatalf("a second first write: %v", err)
	}
	data, v, err := c.GetRecord(ctx, "index-state")
	if err != nil || v != 1 || string(data) != `{"gen":1}` {
		t.Fatalf("record %q %d %v", data, v, err)
	}
	if err := c.PutRecord(ctx, "index-state", []byte(`{"gen":2}`), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRecord(ctx, "index-state", []byte(`{"gen":3}`), 1); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Fatalf("a write over a stale version: %v", err)
	}
	if data, v, _ := c.GetRecord(ctx, "index-state"); v != 2 || string(data) != `{"gen":2}` {
		t.Errorf("record %q %d", data, v)
	}
}

// A DELETING record is a delete's tombstone: it is in the pending index
// (the sweep finds deletes cut short there), Update leaves it as it is, and
// ChunkDone's transaction counts no chunk of it (CodeNotFound either way: to
// a step the video is gone).
func TestTombstone(t *testing.T) {
	m, _ := item(scenedex.Video{ID: "a", Status: scenedex.StatusDeleting}, 3, nil)
	if p, ok := m[pendingAttr].(*types.AttributeValueMemberS); !ok || p.Value != "DELETING" {
		t.Errorf("tombstone's pending key: %v", m[pendingAttr])
	}
	fake := awsfake.New(t)
	fake.On("GetItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		return awsfake.Reply{Body: map[string]any{"Item": wireVideo("v1", scenedex.StatusDeleting, 4, 0, "")}}
	})
	fake.On("PutItem", func(t *testing.T, b map[string]any) awsfake.Reply {
		t.Errorf("a tombstone was written over: %v", b)
		return awsfake.Reply{Body: map[string]any{}}
	})
	fake.On("TransactWriteItems", func(t *testing.T, b map[string]any) awsfake.Reply {
		upd := awsfake.Field(b, "TransactItems", 1, "Update")
		if awsfake.String(upd, "ConditionExpression") != "attribute_exists(pk) AND #s <> :deleting" ||
			awsfake.String(upd, "ExpressionAttributeNames", "#s") != "status" ||
			awsfake.String(upd, "ExpressionAttributeValues", ":deleting", "S") != "DELETING" {
			t.Errorf("chunk count not conditioned on the video not being deleted: %v", upd)
		}
		return awsfake.Reply{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
			Body: map[string]any{"__type": "TransactionCanceledException", "Message": "Transaction cancelled",
				"CancellationReasons": []any{map[string]any{"Code": "None"}, map[string]any{"Code": "ConditionalCheckFailed"}}}}
	})
	fake.On("Query", func(t *testing.T, b map[string]any) awsfake.Reply {
		if awsfake.String(b, "IndexName") != PendingIndex || awsfake.String(b, "ExpressionAttributeValues", ":p", "S") != "DELETING" {
			t.Errorf("query %v", b)
		}
		return awsfake.Reply{Body: map[string]any{"Items": []any{wireVideo("v1", scenedex.StatusDeleting, 4, 0, "")}}}
	})
	c := newCatalog(fake)
	ctx := context.Background()
	if _, err := c.Update(ctx, "v1", func(v *scenedex.Video) error { v.Status = scenedex.StatusReady; return nil }); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("update of a tombstone: %v, want not found", err)
	}
	if _, err := c.ChunkDone(ctx, "v1", 0); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("chunk done of a tombstone: %v, want not found", err)
	}
	if vs, err := c.Stale(ctx, scenedex.StatusDeleting, time.Now()); err != nil || len(vs) != 1 || vs[0].Status != scenedex.StatusDeleting {
		t.Errorf("stale deletes: %+v %v", vs, err)
	}
}
