package broker

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// ApiVersions v0-v4.
//
// v1 adds throttle time, v3 is flexible and carries the client's software
// name and version, v4 changes nothing on the wire (it tells the broker that
// the client understands an UNSUPPORTED_VERSION answer at v4, and a
// supported feature whose minimum level is 0).
//
// v3+ answers carry the feature versions (KIP-584): the levels this build
// supports (metadata.SupportedFeatures; at v3, as Kafka does, without the
// features whose minimum is 0, which older clients fail to parse), the
// levels the cluster finalized (level 0 left out) and their epoch, the
// metadata offset of their last change.
//
// A client may ask with a version newer than we serve; we then answer v0 with
// UNSUPPORTED_VERSION and our key ranges, as Kafka does, and the client retries
// with a version from that list. The conn layer handles that case before the
// body is decoded, because the body of an unknown version can't be decoded.
func init() {
	register(kmsg.ApiVersions, 0, 4, handleApiVersions)
	registerController(kmsg.ApiVersions, 0, 4, handleApiVersions)
}

func handleApiVersions(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	fillApiVersions(resp, r.c.apis)
	if req.Version >= 3 && !validClientSoftware(req.ClientSoftwareName, req.ClientSoftwareVersion) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	if req.Version >= 3 {
		fillFeatures(resp, s.meta.Image(), req.Version)
	}
	return resp
}

// fillFeatures adds the supported and finalized feature levels.
func fillFeatures(resp *kmsg.ApiVersionsResponse, img *metadata.Image, version int16) {
	for _, f := range metadata.SupportedFeatures() {
		if version < 4 && f.Min == 0 {
			continue
		}
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.Name, f.Min, f.Max
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	}
	levels, epoch := img.FinalizedFeatures()
	resp.FinalizedFeaturesEpoch = epoch
	for _, name := range slices.Sorted(maps.Keys(levels)) {
		if levels[name] <= 0 {
			continue
		}
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = name, levels[name], levels[name]
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
}

func fillApiVersions(resp *kmsg.ApiVersionsResponse, apis apiTable) {
	for _, h := range apis.supported() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(h.key), h.min, h.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a
// version we do not serve.
func unsupportedApiVersions(apis apiTable) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	fillApiVersions(resp, apis)
	return resp
}

// validClientSoftware applies Kafka's rule for the v3+ software name and
// version: non-empty, letters, digits, '.', '-' and '_', starting and ending
// with a letter or digit.
func validClientSoftware(name, version string) bool {
	return validSoftwareField(name) && validSoftwareField(version)
}

func validSoftwareField(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !alnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
