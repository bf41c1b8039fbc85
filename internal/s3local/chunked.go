package s3local

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// aws-chunked bodies (SigV4 streaming uploads): the payload comes in chunks,
//
//	<hex size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
//
// each signed over the previous chunk's signature (the first over the
// request's own), so a body cannot be swapped or reordered under a valid
// header. The UNSIGNED-PAYLOAD-TRAILER form carries no chunk signatures but a
// checksum trailer (x-amz-checksum-*) after the last chunk. scenedex decodes
// both while it receives the body and checks every signature and checksum;
// the emulator underneath would store the chunk framing or skip the checks.

const (
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsigned      = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256            = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	maxChunkLine           = 4096
)

// chunkSeed is what chunk signatures chain from (verifier.seed).
type chunkSeed struct {
	key            []byte
	amzDate, scope string
	prev           string // the previous chunk's signature; first, the request's
}

// next is the signature chunk data must carry, given the one before it.
func (s *chunkSeed) next(dataSHA256 string) string {
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", s.amzDate, s.scope, s.prev, emptySHA256, dataSHA256}, "\n")
	return hex.EncodeToString(hmacSHA256(s.key, toSign))
}

// chunkError is a body that is not what was signed or announced.
type chunkError struct{ code, msg string }

func (e *chunkError) Error() string { return e.code + ": " + e.msg }

// decodeChunks copies the data of an aws-chunked body to w, checking each
// chunk's signature against seed (nil: the unsigned form, whose trailer
// checksum is checked instead). Memory is bounded by the copy buffer: a
// chunk is hashed as it streams and its signature checked at its end.
func decodeChunks(body io.Reader, w io.Writer, seed *chunkSeed, trailer string) (int64, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	var total int64
	var sum hash.Hash // the trailer's checksum, computed over the data
	switch strings.ToLower(trailer) {
	case "":
	case "x-amz-checksum-crc32":
		sum = crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		sum = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-sha1":
		sum = sha1.New()
	case "x-amz-checksum-sha256":
		sum = sha256.New()
	default:
		return 0, &chunkError{"NotImplemented", fmt.Sprintf("the local S3 endpoint does not check trailer %q", trailer)}
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return total, err
		}
		sizeHex, ext, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || size < 0 {
			return total, &chunkError{"IncompleteBody", fmt.Sprintf("bad chunk header %q", line)}
		}
		sig, hasSig := strings.CutPrefix(ext, "chunk-signature=")
		if seed != nil && !hasSig {
			return total, &chunkError{"AccessDenied", "a chunk of a signed streaming upload has no chunk-signature"}
		}
		h := sha256.New()
		dst := io.MultiWriter(w, h)
		if sum != nil {
			dst = io.MultiWriter(w, h, sum)
		}
		n, err := io.CopyN(dst, br, size)
		total += n
		if err != nil {
			return total, &chunkError{"IncompleteBody", fmt.Sprintf("the body ended inside a chunk (%d of %d bytes)", n, size)}
		}
		if seed != nil {
			want := seed.next(hex.EncodeToString(h.Sum(nil)))
			if !hmac.Equal([]byte(want), []byte(sig)) {
				return total, &chunkError{"SignatureDoesNotMatch", "a chunk's signature does not match: the body is not the one signed"}
			}
			seed.prev = want
		}
		if size == 0 {
			break
		}
		if crlf, err := readLine(br); err != nil || crlf != "" {
			return total, &chunkError{"IncompleteBody", "a chunk does not end in CRLF"}
		}
	}
	// Trailing headers (the checksum; in the signed form, signed too), then
	// the end.
	var trailers strings.Builder
	trailerSig := ""
	for {
		// Up to the body's end: empty lines separate the trailers from
		// their signature and end the body (clients place them differently).
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return total, err
		}
		if line == "" {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		trailers.WriteString(name + ":" + value + "\n")
		if sum != nil && name == strings.ToLower(trailer) {
			if got := base64.StdEncoding.EncodeToString(sum.Sum(nil)); got != value {
				return total, &chunkError{"BadDigest", fmt.Sprintf("the %s you specified did not match what was received", trailer)}
			}
			sum = nil // checked
		}
	}
	if sum != nil {
		return total, &chunkError{"IncompleteBody", fmt.Sprintf("the body announced trailer %s but did not send it", trailer)}
	}
	if seed != nil && trailer != "" {
		h := sha256.Sum256([]byte(trailers.String()))
		toSign := strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", seed.amzDate, seed.scope, seed.prev, hex.EncodeToString(h[:])}, "\n")
		if want := hex.EncodeToString(hmacSHA256(seed.key, toSign)); !hmac.Equal([]byte(want), []byte(trailerSig)) {
			return total, &chunkError{"SignatureDoesNotMatch", "the trailer's signature does not match: the checksum is not the one signed"}
		}
	}
	return total, nil
}

// readLine reads a CRLF-terminated line (without it), bounded.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		frag, err := br.ReadSlice('\n')
		b.Write(frag)
		if b.Len() > maxChunkLine {
			return "", &chunkError{"IncompleteBody", "a chunk header line is too long"}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if b.Len() == 0 {
				return "", err
			}
			return "", &chunkError{"IncompleteBody", "the body ended inside a chunk header"}
		}
	}
	return strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r"), nil
}
