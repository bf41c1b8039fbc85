package s3local

import (
	"bytes"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// The unsigned trailer form, built by hand as the AWS documentation
// describes it (no client here sends it over plain HTTP), and broken bodies.
func TestDecodeChunksUnsigned(t *testing.T) {
	data := "hello, scenedex"
	crc := crc32.ChecksumIEEE([]byte(data))
	good := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	body := func(trailer string) string {
		return "7\r\nhello, \r\n8\r\nscenedex\r\n0\r\n" + trailer + "\r\n"
	}
	for _, tc := range []struct {
		name, body, trailer, code string
	}{
		{"checksum matches", body("x-amz-checksum-crc32:" + good + "\r\n"), "x-amz-checksum-crc32", ""},
		{"checksum differs", body("x-amz-checksum-crc32:AAAAAA==\r\n"), "x-amz-checksum-crc32", "BadDigest"},
		{"checksum missing", body(""), "x-amz-checksum-crc32", "IncompleteBody"},
		{"no trailer announced", body(""), "", ""},
		{"unknown checksum", body("x-amz-checksum-md9:x\r\n"), "x-amz-checksum-md9", "NotImplemented"},
		{"ends inside a chunk", "7\r\nhel", "", "IncompleteBody"},
		{"bad size", "zz\r\nhello\r\n0\r\n\r\n", "", "IncompleteBody"},
		{"chunk without CRLF", "5\r\nhelloXX0\r\n\r\n", "", "IncompleteBody"},
		{"header line too long", strings.Repeat("1", 5000) + "\r\n", "", "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := decodeChunks(strings.NewReader(tc.body), &out, nil, tc.trailer)
			var ce *chunkError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("err %v", err)
			case tc.code == "" && (out.String() != data || n != int64(len(data))):
				t.Errorf("decoded %q (%d)", out.String(), n)
			case tc.code != "" && (!errors.As(err, &ce) || ce.code != tc.code):
				t.Errorf("err %v, want %s", err, tc.code)
			}
		})
	}
	// A signed body needs its chunk signatures.
	if _, err := decodeChunks(strings.NewReader("5\r\nhello\r\n0\r\n\r\n"), &bytes.Buffer{}, &chunkSeed{key: []byte("k")}, ""); err == nil || !strings.Contains(err.Error(), "no chunk-signature") {
		t.Errorf("unsigned chunk in a signed body: %v", err)
	}
}
