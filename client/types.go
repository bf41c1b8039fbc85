package client

import (
	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// The API's shapes, named here so that code outside this module can use
// them (they are the server's own types: one definition, no drift).
type (
	// Video is the catalog record of one uploaded object.
	Video = scenedex.Video
	// Status is where a video is: StatusUploading, StatusProcessing,
	// StatusReady or StatusFailed.
	Status = scenedex.Status
	// Query is a search: exactly one of Text, Image, Like.
	Query = scenedex.Query
	// LikeRef points at a moment of an indexed video ("more like this").
	LikeRef = scenedex.LikeRef
	// Hit is one matching scene, with presigned thumbnail, clip and source
	// links.
	Hit = scenedex.Hit
	// MatchedLine is a line of words on screen a hit matched, with marks.
	MatchedLine = scenedex.MatchedLine
	// ListQuery asks for a page of videos.
	ListQuery = scenedex.ListQuery
	// VideoPage is one page of videos.
	VideoPage = scenedex.VideoPage
	// Part is one uploaded part of a multipart upload.
	Part = scenedex.Part
	// Code classifies an API error.
	Code = scenedex.Code
	// DeadLetters are the messages that ran out of attempts.
	DeadLetters = scenedex.DeadLetters

	// UploadRequest is the body of POST /v1/videos.
	UploadRequest = pipeline.UploadRequest
	// Upload says where to send a file's bytes.
	Upload = pipeline.Upload
	// PartUpload is one part of a multipart upload.
	PartUpload = pipeline.PartUpload
	// CompleteRequest finishes a multipart upload.
	CompleteRequest = pipeline.CompleteRequest
	// SignPartsRequest asks for fresh part URLs.
	SignPartsRequest = pipeline.SignPartsRequest
	// SignPartsResponse holds fresh part URLs.
	SignPartsResponse = pipeline.SignPartsResponse
	// ReindexRequest selects what to re-embed.
	ReindexRequest = pipeline.ReindexRequest
	// ReindexResult says what was queued.
	ReindexResult = pipeline.ReindexResult
	// ModelStatus is the live model and the model switch under way.
	ModelStatus = pipeline.ModelStatus
	// SwitchStatus is a model switch and how far it is.
	SwitchStatus = pipeline.SwitchStatus
	// ConceptsRequest is a concept board's question.
	ConceptsRequest = pipeline.ConceptsRequest
	// Concept is one concept: words or an example image.
	Concept = pipeline.Concept
	// ConceptsResponse is a concept board.
	ConceptsResponse = pipeline.ConceptsResponse
	// ConceptResult counts one concept's scenes.
	ConceptResult = pipeline.ConceptResult
	// CreateVideoResponse is the answer to CreateVideo.
	CreateVideoResponse = httpapi.CreateVideoResponse
)

// Video statuses.
const (
	StatusUploading  = scenedex.StatusUploading
	StatusProcessing = scenedex.StatusProcessing
	StatusReady      = scenedex.StatusReady
	StatusFailed     = scenedex.StatusFailed
	StatusDeleting   = scenedex.StatusDeleting // a delete under way (or cut short, to be completed)
)

// Error codes of APIError.
const (
	CodeInvalid         = scenedex.CodeInvalid
	CodeNotFound        = scenedex.CodeNotFound
	CodeConflict        = scenedex.CodeConflict
	CodeUnsupported     = scenedex.CodeUnsupported
	CodeTooLarge        = scenedex.CodeTooLarge
	CodeNotVideo        = scenedex.CodeNotVideo
	CodeUnauthenticated = scenedex.CodeUnauthenticated
	CodeUnavailable     = scenedex.CodeUnavailable
	CodeInternal        = scenedex.CodeInternal
)
