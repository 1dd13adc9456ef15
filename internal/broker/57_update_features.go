package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// UpdateFeatures v0-v2 (KIP-584, kafka-features.sh upgrade, downgrade and
// disable).
//
// Each update names a feature and its new finalized level; level 0
// removes it. v0 says whether a downgrade is allowed (AllowDowngrade:
// a safe downgrade), v1 has the upgrade type instead (1 upgrade, 2 safe
// downgrade, 3 unsafe downgrade) and ValidateOnly, v2 answers without
// per-feature results. The controller decides (forwarded from other
// brokers, metadata/control_features.go) and, as Kafka's KRaft controller
// does, applies all the updates or none: a refusal is the top-level
// error (INVALID_UPDATE_VERSION for a level outside what the controller
// or a registered broker supports, or a downgrade that is not allowed),
// with no per-feature results; a success has a result per feature before
// v2. No ACLs exist yet, so there is no authorization.
func init() { registerAdmin(kmsg.UpdateFeatures, 0, 2, handleUpdateFeatures) }

func handleUpdateFeatures(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.UpdateFeaturesRequest)
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()
	updates := make([]metadata.FeatureUpdate, 0, len(req.FeatureUpdates))
	for _, u := range req.FeatureUpdates {
		typ := u.UpgradeType
		if req.Version == 0 {
			typ = metadata.FeatureUpgrade
			if u.AllowDowngrade {
				typ = metadata.FeatureSafeDowngrade
			}
		}
		updates = append(updates, metadata.FeatureUpdate{Name: u.Feature, Level: u.MaxVersionLevel, Type: typ})
	}
	validateOnly := req.Version >= 1 && req.ValidateOnly
	if err := s.meta.UpdateFeatures(ctx, updates, validateOnly); err != nil {
		msg := "The update failed for all features since the following feature had an error: " + err.Error()
		resp.ErrorCode, resp.ErrorMessage = errCode(err), &msg
		return resp
	}
	if req.Version <= 1 {
		for _, u := range req.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature = u.Feature
			resp.Results = append(resp.Results, res)
		}
	}
	return resp
}
