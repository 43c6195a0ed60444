// Package secretsmanagerlocal is a local, in-memory endpoint that speaks the
// AWS Secrets Manager wire protocol (awsJson1.1) well enough for the AWS SDK
// for Go v2 secretsmanager client to use it unchanged.
//
// It exists so that `make run` and the tests exercise the function's real
// Secrets Manager code path (SDK client, credentials, retries, error types)
// with no AWS account and no network: point the SDK at it with
// AWS_ENDPOINT_URL_SECRETS_MANAGER. It is strict where AWS is strict, so that
// a client that works here does not fail against AWS for a protocol reason:
// every request must be a POST to / with a SigV4 Authorization header scoped
// to the secretsmanager service, an X-Amz-Target and the awsJson1.1 content
// type. It does not verify signatures (any credentials are accepted).
//
// Only GetSecretValue and PutSecretValue are served; every other target is
// answered with UnknownOperationException. Secret values never appear in
// errors or logs.
package secretsmanagerlocal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Region and AccountID are the region and account that the ARNs of this
// endpoint's secrets name. Clients may be configured for any region: the
// endpoint does not compare.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// Version stage labels, as Secrets Manager uses them.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Error types this endpoint answers with (the __type of the error body and
// the X-Amzn-ErrorType header). The SDK maps the Secrets Manager ones to the
// types of its types package, for example *types.ResourceNotFoundException.
const (
	ErrResourceNotFound     = "ResourceNotFoundException"
	ErrInternalServiceError = "InternalServiceError"
	ErrInvalidParameter     = "InvalidParameterException"
	ErrInvalidRequest       = "InvalidRequestException"
	ErrResourceExists       = "ResourceExistsException"
	ErrAccessDenied         = "AccessDeniedException"
	ErrUnknownOperation     = "UnknownOperationException"
	ErrSerialization        = "SerializationException"
	ErrValidation           = "ValidationException"
	ErrMissingAuthToken     = "MissingAuthenticationTokenException"
	ErrIncompleteSignature  = "IncompleteSignatureException"
	ErrInvalidSignature     = "InvalidSignatureException"
)

const (
	targetPrefix = "secretsmanager."
	contentType  = "application/x-amz-json-1.1"
	// maxBody bounds a request body. Secrets Manager allows 64 KiB of
	// SecretString; the rest is headroom for the JSON around it.
	maxBody = 1 << 20
	// maxVersions bounds the versions kept per secret, as Secrets Manager
	// does (it keeps about 100), so a long `make run` does not grow without end.
	maxVersions = 100
)

// Server is an in-memory Secrets Manager endpoint. It is an http.Handler;
// serve it on a loopback address (see Listen, or httptest.NewServer).
// The zero value is not usable: call New. A Server is safe for concurrent use.
type Server struct {
	mu      sync.Mutex
	secrets map[string]*secret // by name
	// created counts the creations of each name, so that a secret deleted
	// and created again gets a new ARN, as in AWS, while the first ARN of a
	// name is the same on every run.
	created map[string]int
	fail    failure
	calls   int
}

type secret struct {
	name     string
	arn      string
	versions []*version // oldest first
}

type version struct {
	id      string
	value   string
	created time.Time
	stages  []string
}

type failure struct {
	n       int
	errType string
	status  int
}

// New returns an empty Server.
func New() *Server {
	return &Server{secrets: map[string]*secret{}, created: map[string]int{}}
}

// Put stores secretString as the new AWSCURRENT version of the secret name,
// creating the secret if it does not exist, and returns the secret's ARN.
// On an existing secret it is a rotation: the version that was AWSCURRENT
// becomes AWSPREVIOUS, so a client caching the old value sees the new one
// only when it fetches again. It panics on an empty name (a test's mistake).
func (s *Server) Put(name string, secretString string) (arn string) {
	if name == "" {
		panic("secretsmanagerlocal: Put with an empty secret name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = s.create(name)
	}
	sec.add(newVersionID(), secretString, []string{StageCurrent})
	return sec.arn
}

// Delete removes the secret name and all its versions at once (as
// DeleteSecret with ForceDeleteWithoutRecovery does); later calls for it get
// ResourceNotFoundException. Deleting a missing secret does nothing.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// FailNext makes the next n API calls (of any operation, once they have
// passed the protocol checks) fail with the error errType and HTTP status,
// for example ("InternalServiceError", 500), which the SDK retries, or
// ("AccessDeniedException", 400), which it does not. A status of 0 means 500
// for InternalServiceError and 400 otherwise; an empty errType means
// InternalServiceError. n <= 0 cancels failures still pending.
func (s *Server) FailNext(n int, errType string, status int) {
	if errType == "" {
		errType = ErrInternalServiceError
	}
	if status == 0 {
		status = http.StatusBadRequest
		if errType == ErrInternalServiceError {
			status = http.StatusInternalServerError
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = failure{n: max(n, 0), errType: errType, status: status}
}

// Calls reports how many GetSecretValue requests the Server has received,
// whatever became of them (refused, failed on purpose, or answered), so that
// a test can assert that a secret was not fetched, or fetched only once.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// create adds an empty secret; s.mu must be held.
func (s *Server) create(name string) *secret {
	s.created[name]++
	sec := &secret{name: name, arn: secretARN(name, s.created[name])}
	s.secrets[name] = sec
	return sec
}

// lookup finds a secret by name, full ARN, or ARN without the random
// suffix (which Secrets Manager also accepts); s.mu must be held.
func (s *Server) lookup(id string) *secret {
	if !strings.HasPrefix(id, "arn:") {
		return s.secrets[id]
	}
	for _, sec := range s.secrets {
		if id == sec.arn || id == sec.arn[:len(sec.arn)-len("-XXXXXX")] {
			return sec
		}
	}
	return nil
}

// add appends a version carrying stages, moving each of those labels off
// the version that had it. When AWSCURRENT moves, the version that loses it
// takes AWSPREVIOUS, as in Secrets Manager.
func (sec *secret) add(id, value string, stages []string) *version {
	stages = slices.Compact(slices.Sorted(slices.Values(stages)))
	movesCurrent := slices.Contains(stages, StageCurrent)
	if movesCurrent {
		stages = slices.DeleteFunc(stages, func(st string) bool { return st == StagePrevious })
	}
	for _, v := range sec.versions {
		hadCurrent := slices.Contains(v.stages, StageCurrent)
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool {
			return slices.Contains(stages, st) || (movesCurrent && st == StagePrevious)
		})
		if movesCurrent && hadCurrent {
			v.stages = slices.Sorted(slices.Values(append(v.stages, StagePrevious)))
		}
	}
	nv := &version{id: id, value: value, created: time.Now(), stages: stages}
	sec.versions = append(sec.versions, nv)
	sec.prune()
	return nv
}

// prune drops the oldest versions without a stage label beyond maxVersions.
func (sec *secret) prune() {
	for len(sec.versions) > maxVersions {
		i := slices.IndexFunc(sec.versions, func(v *version) bool { return len(v.stages) == 0 })
		if i < 0 {
			return
		}
		sec.versions = slices.Delete(sec.versions, i, i+1)
	}
}

func (sec *secret) withStage(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

func (sec *secret) withID(id string) *version {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

// ServeHTTP answers one awsJson1.1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, ErrUnknownOperation, "Secrets Manager requests are sent to /, not "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, ErrUnknownOperation, "Secrets Manager requests must be POST, not "+r.Method)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, _ := strings.CutPrefix(target, targetPrefix)
	if op == "GetSecretValue" {
		s.mu.Lock()
		s.calls++
		s.mu.Unlock()
	}
	if e := checkAuth(r); e != nil {
		writeError(w, e.status, e.errType, e.message)
		return
	}
	if !strings.HasPrefix(target, targetPrefix) || (op != "GetSecretValue" && op != "PutSecretValue") {
		writeError(w, http.StatusBadRequest, ErrUnknownOperation, fmt.Sprintf("unknown or unsupported operation %q (X-Amz-Target must be secretsmanager.GetSecretValue or secretsmanager.PutSecretValue)", target))
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSON11(ct) {
		writeError(w, http.StatusBadRequest, ErrSerialization, fmt.Sprintf("Content-Type must be %s, not %q", contentType, ct))
		return
	}
	if f, ok := s.takeFailure(); ok {
		writeError(w, f.status, f.errType, "failure injected by secretsmanagerlocal.FailNext")
		return
	}
	var resp any
	var e *apiError
	switch op {
	case "GetSecretValue":
		resp, e = s.getSecretValue(r)
	case "PutSecretValue":
		resp, e = s.putSecretValue(r)
	}
	if e != nil {
		writeError(w, e.status, e.errType, e.message)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) takeFailure() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail.n == 0 {
		return failure{}, false
	}
	s.fail.n--
	return s.fail, true
}

type getSecretValueInput struct {
	SecretID     *string `json:"SecretId"`
	VersionID    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	SecretString  string   `json:"SecretString"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"` // epoch seconds, as awsJson1.1 sends timestamps
}

func (s *Server) getSecretValue(r *http.Request) (any, *apiError) {
	var in getSecretValueInput
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.SecretID == nil || *in.SecretID == "" {
		return nil, &apiError{http.StatusBadRequest, ErrValidation, "1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must not be null"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(*in.SecretID)
	if sec == nil {
		return nil, &apiError{http.StatusBadRequest, ErrResourceNotFound, "Secrets Manager can't find the specified secret."}
	}
	var v *version
	switch {
	case in.VersionID != nil:
		v = sec.withID(*in.VersionID)
		if v != nil && in.VersionStage != nil && !slices.Contains(v.stages, *in.VersionStage) {
			return nil, &apiError{http.StatusBadRequest, ErrInvalidRequest, "You provided a VersionStage that is not associated to the provided VersionId."}
		}
	case in.VersionStage != nil:
		v = sec.withStage(*in.VersionStage)
	default:
		v = sec.withStage(StageCurrent)
	}
	if v == nil {
		return nil, &apiError{http.StatusBadRequest, ErrResourceNotFound, "Secrets Manager can't find the specified secret value for the requested VersionId or VersionStage."}
	}
	return getSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		SecretString:  v.value,
		VersionID:     v.id,
		VersionStages: slices.Clone(v.stages),
		CreatedDate:   epochSeconds(v.created),
	}, nil
}

type putSecretValueInput struct {
	SecretID           *string  `json:"SecretId"`
	SecretString       *string  `json:"SecretString"`
	SecretBinary       *string  `json:"SecretBinary"`
	ClientRequestToken *string  `json:"ClientRequestToken"`
	VersionStages      []string `json:"VersionStages"`
}

type putSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

// putSecretValue adds a version to an existing secret, as PutSecretValue
// does (it does not create secrets: that is CreateSecret, or Put here).
// The client's ClientRequestToken becomes the VersionId, and repeating a
// request with the same token and value changes nothing.
func (s *Server) putSecretValue(r *http.Request) (any, *apiError) {
	var in putSecretValueInput
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.SecretID == nil || *in.SecretID == "" {
		return nil, &apiError{http.StatusBadRequest, ErrValidation, "1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must not be null"}
	}
	if in.SecretBinary != nil {
		return nil, &apiError{http.StatusBadRequest, ErrInvalidParameter, "secretsmanagerlocal stores SecretString only"}
	}
	if in.SecretString == nil {
		return nil, &apiError{http.StatusBadRequest, ErrInvalidParameter, "You must provide either SecretString or SecretBinary."}
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	id := newVersionID()
	if in.ClientRequestToken != nil {
		if n := len(*in.ClientRequestToken); n < 32 || n > 64 {
			return nil, &apiError{http.StatusBadRequest, ErrValidation, "ClientRequestToken must be 32 to 64 characters long"}
		}
		id = *in.ClientRequestToken
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(*in.SecretID)
	if sec == nil {
		return nil, &apiError{http.StatusBadRequest, ErrResourceNotFound, "Secrets Manager can't find the specified secret."}
	}
	v := sec.withID(id)
	switch {
	case v != nil && v.value != *in.SecretString:
		return nil, &apiError{http.StatusBadRequest, ErrResourceExists, "A resource with the ID you requested already exists."}
	case v == nil:
		v = sec.add(id, *in.SecretString, stages)
	}
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionID: v.id, VersionStages: slices.Clone(v.stages)}, nil
}

func decode(r *http.Request, v any) *apiError {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, ErrSerialization, "the request body is not a valid JSON object of this operation's input: " + err.Error()}
	}
	return nil
}

// apiError is an error answer: HTTP status, __type and message.
type apiError struct {
	status  int
	errType string
	message string
}

func writeError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("X-Amzn-ErrorType", errType)
	writeJSON(w, status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{errType, message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled: this cannot happen.
		status = http.StatusInternalServerError
		w.Header().Set("X-Amzn-ErrorType", ErrInternalServiceError)
		b = []byte(`{"__type":"InternalServiceError","message":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", newVersionID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func isJSON11(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), contentType)
}

// secretARN builds name's ARN with Secrets Manager's six-character suffix,
// derived from the name and its creation count: stable across runs, new when
// a secret is deleted and created again.
func secretARN(name string, generation int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", name, generation))
	suffix := make([]byte, 6)
	for i := range suffix {
		suffix[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, AccountID, name, suffix)
}

// newVersionID returns a random UUID (version 4), the form of Secrets
// Manager's version ids and request ids.
func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func epochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}
