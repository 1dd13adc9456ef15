package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// samsa features is kafka-features.sh: describe reads the supported and
// finalized feature levels from ApiVersions (as Kafka's Admin
// describeFeatures does), upgrade, downgrade and disable send
// UpdateFeatures. The output is Kafka's, line for line.

func init() {
	Register(&Command{
		Name:    "features",
		Summary: "describe and change the cluster's feature versions (kafka-features.sh)",
		Kafka:   "kafka-features.sh",
		Run:     runFeatures,
	})
}

const featuresSynopsis = `  samsa features --bootstrap-server HOST:PORT describe
  samsa features --bootstrap-server HOST:PORT upgrade (--feature NAME=LEVEL ... | --metadata VERSION) [--dry-run]
  samsa features --bootstrap-server HOST:PORT downgrade (--feature NAME=LEVEL ... | --metadata VERSION) [--unsafe] [--dry-run]
  samsa features --bootstrap-server HOST:PORT disable --feature NAME ... [--unsafe] [--dry-run]
  Feature versions (KIP-584): each feature has the levels the brokers
  support and the one the cluster finalized. describe prints them as
  Kafka's tool does (metadata.version by name, e.g. 4.0-IV3); upgrade,
  downgrade and disable (the same as downgrading to 0) change the
  finalized levels, all of them or none. --metadata takes a
  metadata.version name ("4.0-IV3", or a release, "4.0"); --dry-run only
  validates. docs/DESIGN.md "Feature versions" says what each level means.`

const featuresExamples = `  samsa features --bootstrap-server 127.0.0.1:9092 describe
  samsa features --bootstrap-server 127.0.0.1:9092 downgrade --feature group.version=0
  samsa features --bootstrap-server 127.0.0.1:9092 upgrade --metadata 4.0-IV3 --dry-run`

func runFeatures(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var feats []string
		var metadataVersion, releaseVersion string
		var dryRun, unsafe bool
		fs := newFlagSet("features", featuresSynopsis, featuresExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		fs.Strings(&feats, "feature", "name=level", "with upgrade and downgrade: a feature and its new level; with disable: a feature name (repeatable)")
		fs.String(&metadataVersion, "metadata", "version", "with upgrade and downgrade: the metadata.version, e.g. 4.0-IV3")
		fs.String(&releaseVersion, "release-version", "version", "not supported")
		fs.Bool(&dryRun, "dry-run", "validate the change without making it")
		fs.Bool(&unsafe, "unsafe", "with downgrade and disable: an unsafe (lossy) downgrade")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if len(fs.args) != 1 {
			return errors.New("give one of the describe, upgrade, downgrade or disable subcommands (see samsa features --help)")
		}
		cmd := fs.args[0]
		typ := metadata.FeatureUpgrade
		if cmd != "upgrade" {
			typ = metadata.FeatureSafeDowngrade
			if unsafe {
				typ = metadata.FeatureUnsafeDowngrade
			}
		}
		var updates map[string]int16
		switch cmd {
		case "describe":
			if len(feats) > 0 || metadataVersion != "" || dryRun || unsafe {
				return errors.New("describe takes no --feature, --metadata, --dry-run or --unsafe")
			}
		case "upgrade", "downgrade", "disable":
			if releaseVersion != "" {
				return errors.New("--release-version is not supported: name the features with --feature or --metadata")
			}
			if cmd == "upgrade" && unsafe {
				return errors.New("--unsafe is only for downgrade and disable")
			}
			var err error
			if updates, err = parseFeatureUpdates(cmd, feats, metadataVersion, stdout); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown subcommand %s: give describe, upgrade, downgrade or disable", cmd)
		}
		_, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		if cmd == "describe" {
			req := kmsg.NewPtrApiVersionsRequest()
			req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-features", "1"
			resp, err := req.RequestWith(ctx, c.cl)
			if err != nil {
				return c.describeErr("asking for API versions", err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return c.describeErr("asking for API versions", err)
			}
			writeFeatures(stdout, resp)
			return nil
		}
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.TimeoutMillis = int32(c.timeout.Milliseconds())
		req.ValidateOnly = dryRun
		for _, name := range sortedNames(updates) {
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = name, updates[name], typ
			u.AllowDowngrade = typ != metadata.FeatureUpgrade
			req.FeatureUpdates = append(req.FeatureUpdates, u)
		}
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return c.describeErr("updating the features", err)
		}
		return writeFeatureResults(stdout, cmd, updates, dryRun, resp)
	})
}

// parseFeatureUpdates reads --feature and --metadata into levels by
// feature.
func parseFeatureUpdates(cmd string, feats []string, metadataVersion string, stdout io.Writer) (map[string]int16, error) {
	updates := map[string]int16{}
	if metadataVersion != "" {
		if cmd == "disable" {
			return nil, errors.New("disable takes --feature names only")
		}
		fmt.Fprintln(stdout, " `metadata` flag is deprecated and may be removed in a future release.")
		level, err := metadata.ParseMetadataVersion(metadataVersion)
		if err != nil {
			return nil, err
		}
		updates[metadata.FeatureMetadataVersion] = level
	}
	for _, f := range feats {
		name, level := strings.TrimSpace(f), int16(0)
		if cmd != "disable" {
			n, l, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("can't parse feature=level string %s: equals sign not found", f)
			}
			v, err := strconv.ParseInt(strings.TrimSpace(l), 10, 16)
			if err != nil {
				return nil, fmt.Errorf("can't parse feature=level string %s: unable to parse %s as a short", f, strings.TrimSpace(l))
			}
			name, level = strings.TrimSpace(n), int16(v)
		}
		if _, dup := updates[name]; dup {
			return nil, fmt.Errorf("feature %s was specified more than once", name)
		}
		updates[name] = level
	}
	if len(updates) == 0 {
		return nil, fmt.Errorf("you must specify at least one feature to %s", cmd)
	}
	return updates, nil
}

// writeFeatures prints describe's lines: every supported feature, by
// name, as Kafka's FeatureCommand does.
func writeFeatures(w io.Writer, resp *kmsg.ApiVersionsResponse) {
	finalized := map[string]int16{}
	for _, f := range resp.FinalizedFeatures {
		finalized[f.Name] = f.MaxVersionLevel
	}
	epoch := "-"
	if resp.FinalizedFeaturesEpoch >= 0 {
		epoch = strconv.FormatInt(resp.FinalizedFeaturesEpoch, 10)
	}
	sf := slices.Clone(resp.SupportedFeatures)
	sort.Slice(sf, func(i, j int) bool { return sf[i].Name < sf[j].Name })
	for _, f := range sf {
		fmt.Fprintf(w, "Feature: %s\tSupportedMinVersion: %s\tSupportedMaxVersion: %s\tFinalizedVersionLevel: %s\tEpoch: %s\n",
			f.Name, metadata.FeatureLevelString(f.Name, f.MinVersion), metadata.FeatureLevelString(f.Name, f.MaxVersion),
			metadata.FeatureLevelString(f.Name, finalized[f.Name]), epoch)
	}
}

// writeFeatureResults prints a line per feature, as Kafka's tool does, and
// fails when any failed.
func writeFeatureResults(w io.Writer, cmd string, updates map[string]int16, dryRun bool, resp *kmsg.UpdateFeaturesResponse) error {
	errs := map[string]string{}
	if code := resp.ErrorCode; code != 0 {
		msg := kerr.ErrorForCode(code).Error()
		if resp.ErrorMessage != nil && *resp.ErrorMessage != "" {
			msg = *resp.ErrorMessage
		}
		for name := range updates {
			errs[name] = msg
		}
	}
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			msg := kerr.ErrorForCode(r.ErrorCode).Error()
			if r.ErrorMessage != nil && *r.ErrorMessage != "" {
				msg = *r.ErrorMessage
			}
			errs[r.Feature] = msg
		}
	}
	failed := 0
	for _, name := range sortedNames(updates) {
		level := updates[name]
		if msg, bad := errs[name]; bad {
			failed++
			helper := "Could not "
			if dryRun {
				helper = "Can not "
			}
			what := fmt.Sprintf("%s %s to %d", cmd, name, level)
			if cmd == "disable" {
				what = "disable " + name
			}
			fmt.Fprintf(w, "%s%s. %s\n", helper, what, msg)
			continue
		}
		verb := " was "
		if dryRun {
			verb = " can be "
		}
		what := fmt.Sprintf("%sd to %d.", cmd, level)
		if cmd == "disable" {
			what = "disabled."
		}
		fmt.Fprintf(w, "%s%s%s\n", name, verb, what)
	}
	if failed > 0 {
		return fmt.Errorf("%d out of %d operation(s) failed", failed, len(updates))
	}
	return nil
}

func sortedNames(m map[string]int16) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
