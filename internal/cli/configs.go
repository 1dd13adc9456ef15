package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	Register(&Command{
		Name:    "configs",
		Summary: "describe and alter topic and broker configs (kafka-configs.sh)",
		Kafka:   "kafka-configs.sh",
		Run:     runConfigs,
	})
}

const configsSynopsis = `  samsa configs --bootstrap-server HOST:PORT --describe|--alter
                --entity-type topics|brokers (--entity-name NAME | --entity-default) [options]
  --topic T, --broker ID and --broker-defaults are short for the entity options.
  --describe shows the dynamic configs (those set on the entity), or every
  config with --all, each with its source and synonyms. --alter uses
  IncrementalAlterConfigs: --add-config sets, --delete-config removes (back
  to the default). List values use brackets: k=[a,b].`

const configsExamples = `  samsa configs --bootstrap-server 127.0.0.1:9092 --describe --entity-type topics --entity-name events
  samsa configs --describe --topic events --all
  samsa configs --alter --entity-type topics --entity-name events --add-config retention.ms=86400000,cleanup.policy=[compact,delete]
  samsa configs --alter --topic events --delete-config retention.ms
  samsa configs --describe --entity-type brokers --entity-name 1
  samsa configs --alter --entity-type brokers --entity-default --add-config log.retention.ms=604800000`

type configsOpts struct {
	conn
	describe, alter, all, entityDefault, brokerDefaults bool
	entityType, entityName, topic, broker, addFile      string
	add, del                                            []string
}

func runConfigs(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var o configsOpts
		fs := newFlagSet("configs", configsSynopsis, configsExamples)
		o.addConnFlags(fs, "timeout", "command-config")
		fs.Bool(&o.describe, "describe", "list the configs of the entity")
		fs.Bool(&o.alter, "alter", "alter the configs of the entity")
		fs.Bool(&o.all, "all", "with --describe: every config, not only the dynamic ones")
		fs.String(&o.entityType, "entity-type", "topics|brokers", "the kind of entity")
		fs.String(&o.entityName, "entity-name", "name", "the topic name or broker id")
		fs.Bool(&o.entityDefault, "entity-default", "the cluster-wide default (brokers)")
		fs.String(&o.topic, "topic", "topic", "short for --entity-type topics --entity-name TOPIC")
		fs.String(&o.broker, "broker", "id", "short for --entity-type brokers --entity-name ID")
		fs.Bool(&o.brokerDefaults, "broker-defaults", "short for --entity-type brokers --entity-default")
		fs.Strings(&o.add, "add-config", "k=v,k2=[a,b]", "configs to set, comma separated; repeatable")
		fs.String(&o.addFile, "add-config-file", "file", "a properties file of configs to set")
		fs.Strings(&o.del, "delete-config", "k,k2", "configs to remove, comma separated; repeatable")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		action, err := fs.onlyOne("describe", "alter")
		if err != nil {
			return err
		}
		if len(fs.args) > 0 {
			return fmt.Errorf("unexpected argument %q (see samsa configs --help)", fs.args[0])
		}
		kind, name, isDefault, err := o.entity()
		if err != nil {
			return err
		}
		if err := o.loadProps(stderr); err != nil {
			return err
		}
		var set [][2]string
		var del []string
		if action == "alter" {
			if set, err = parseAddConfigs(o.add); err != nil {
				return err
			}
			if o.addFile != "" {
				p := newProps()
				if err := p.loadFile(o.addFile); err != nil {
					return err
				}
				for _, k := range p.keys {
					set = append(set, [2]string{k, p.m[k]})
				}
			}
			for _, d := range o.del {
				for _, k := range strings.Split(d, ",") {
					if k = strings.TrimSpace(k); k != "" {
						del = append(del, k)
					}
				}
			}
			if len(set) == 0 && len(del) == 0 {
				return errors.New("--alter needs --add-config, --add-config-file or --delete-config")
			}
			if name == "" && !isDefault {
				return fmt.Errorf("--alter needs --entity-name or --entity-default for %s", kind)
			}
		}
		adm, closeFn, err := o.newAdmin()
		if err != nil {
			return err
		}
		defer closeFn()
		ctx, cancel := o.ctx()
		defer cancel()
		if action == "describe" {
			return o.runDescribe(ctx, adm, kind, name, isDefault, stdout)
		}
		return o.runAlter(ctx, adm, kind, name, isDefault, set, del, stdout)
	})
}

// entity resolves the entity options to "topics" or "brokers" and a name.
func (o *configsOpts) entity() (kind, name string, isDefault bool, err error) {
	kind = strings.TrimSpace(o.entityType)
	switch kind {
	case "topic":
		kind = "topics"
	case "broker":
		kind = "brokers"
	}
	set := func(k, n string, def bool) error {
		if kind != "" && kind != k {
			return fmt.Errorf("conflicting entity options: %s and %s", kind, k)
		}
		kind, name, isDefault = k, n, def
		return nil
	}
	if o.topic != "" {
		if err = set("topics", o.topic, false); err != nil {
			return
		}
	}
	if o.broker != "" {
		if err = set("brokers", o.broker, false); err != nil {
			return
		}
	}
	if o.brokerDefaults {
		if err = set("brokers", "", true); err != nil {
			return
		}
	}
	if o.entityName != "" {
		name = o.entityName
	}
	if o.entityDefault {
		isDefault = true
	}
	switch kind {
	case "topics":
		if isDefault {
			return "", "", false, errors.New("--entity-default is not supported for topics (topic defaults are broker configs)")
		}
	case "brokers":
		if name != "" {
			if _, err := strconv.ParseInt(name, 10, 32); err != nil {
				return "", "", false, fmt.Errorf("the entity name for brokers must be a broker id, not %q", name)
			}
		}
	case "":
		return "", "", false, errors.New("option --entity-type is required (topics or brokers)")
	case "users", "clients", "ips", "client-metrics", "groups", "broker-loggers":
		return "", "", false, fmt.Errorf("entity type %s is not supported yet", kind)
	default:
		return "", "", false, fmt.Errorf("invalid entity type %q: topics or brokers", kind)
	}
	if name != "" && isDefault {
		return "", "", false, errors.New("--entity-name and --entity-default cannot be used together")
	}
	return kind, name, isDefault, nil
}

// parseAddConfigs parses --add-config values: comma separated k=v pairs,
// where a value in brackets may hold commas (k=[a,b] sets "a,b").
func parseAddConfigs(items []string) ([][2]string, error) {
	var out [][2]string
	for _, item := range items {
		for _, pair := range splitOutsideBrackets(item, ',') {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			kv := splitOutsideBrackets(pair, '=')
			if len(kv) != 2 || strings.TrimSpace(kv[0]) == "" {
				return nil, fmt.Errorf("invalid entity config %q: all configs to be added must be in the format \"key=val\" or \"key=[val1,val2]\"", pair)
			}
			v := strings.NewReplacer("[", "", "]", "").Replace(kv[1])
			out = append(out, [2]string{strings.TrimSpace(kv[0]), strings.TrimSpace(v)})
		}
	}
	return out, nil
}

func splitOutsideBrackets(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func (o *configsOpts) describeEntity(ctx context.Context, adm *kadm.Client, kind, name string) (kadm.ResourceConfig, error) {
	var rcs kadm.ResourceConfigs
	var err error
	if kind == "topics" {
		rcs, err = adm.DescribeTopicConfigs(ctx, name)
	} else if name == "" {
		rcs, err = adm.DescribeBrokerConfigs(ctx)
	} else {
		id, _ := strconv.ParseInt(name, 10, 32)
		rcs, err = adm.DescribeBrokerConfigs(ctx, int32(id))
	}
	if err != nil {
		return kadm.ResourceConfig{}, o.describeErr("describing configs", err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return rc, fmt.Errorf("describing configs of %s %s: %s", kind[:len(kind)-1], name, kafkaErr(rc.Err, rc.ErrMessage))
		}
		return rc, nil
	}
	return kadm.ResourceConfig{}, fmt.Errorf("no configs returned for %s %s", kind[:len(kind)-1], name)
}

func (o *configsOpts) runDescribe(ctx context.Context, adm *kadm.Client, kind, name string, isDefault bool, stdout io.Writer) error {
	var names []string
	switch {
	case name != "" || isDefault:
		names = []string{name}
	case kind == "topics":
		tds, err := adm.ListTopicsWithInternal(ctx)
		if err != nil {
			return o.describeErr("listing topics", err)
		}
		names = tds.Names()
	default:
		bs, err := adm.ListBrokers(ctx)
		if err != nil {
			return o.describeErr("listing brokers", err)
		}
		for _, b := range bs {
			names = append(names, itoa32(b.NodeID))
		}
		names = append(names, "") // the cluster default, as Kafka lists it last
	}
	for _, n := range names {
		rc, err := o.describeEntity(ctx, adm, kind, n)
		if err != nil {
			return err
		}
		writeConfigs(stdout, kind, n, o.all, rc.Configs)
	}
	return nil
}

// writeConfigs prints configs as kafka-configs.sh --describe does.
func writeConfigs(w io.Writer, kind, name string, all bool, configs []kadm.Config) {
	want := kmsg.ConfigSourceDynamicTopicConfig
	if kind == "brokers" {
		want = kmsg.ConfigSourceDynamicBrokerConfig
		if name == "" {
			want = kmsg.ConfigSourceDynamicDefaultBrokerConfig
		}
	}
	switch {
	case kind == "brokers" && name == "":
		fmt.Fprintln(w, "Default configs for brokers in the cluster are:")
	case all:
		fmt.Fprintf(w, "All configs for %s %s are:\n", kind[:len(kind)-1], name)
	default:
		fmt.Fprintf(w, "Dynamic configs for %s %s are:\n", kind[:len(kind)-1], name)
	}
	sorted := append([]kadm.Config(nil), configs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for _, c := range sorted {
		if !all && c.Source != want {
			continue
		}
		syns := make([]string, 0, len(c.Synonyms))
		for _, s := range c.Synonyms {
			v := "null"
			if s.Value != nil && !c.Sensitive {
				v = *s.Value
			}
			syns = append(syns, fmt.Sprintf("%s:%s=%s", s.Source, s.Key, v))
		}
		fmt.Fprintf(w, "  %s=%s sensitive=%t synonyms={%s}\n", c.Key, configValue(c), c.Sensitive, strings.Join(syns, ", "))
	}
}

func (o *configsOpts) runAlter(ctx context.Context, adm *kadm.Client, kind, name string, isDefault bool, set [][2]string, del []string, stdout io.Writer) error {
	// Kafka refuses to delete a config that is not set on the entity.
	if len(del) > 0 {
		rc, err := o.describeEntity(ctx, adm, kind, name)
		if err != nil {
			return err
		}
		want := kmsg.ConfigSourceDynamicTopicConfig
		if kind == "brokers" {
			want = kmsg.ConfigSourceDynamicBrokerConfig
			if name == "" {
				want = kmsg.ConfigSourceDynamicDefaultBrokerConfig
			}
		}
		current := map[string]bool{}
		for _, c := range rc.Configs {
			if c.Source == want {
				current[c.Key] = true
			}
		}
		var invalid []string
		for _, k := range del {
			if !current[k] {
				invalid = append(invalid, k)
			}
		}
		if len(invalid) > 0 {
			return fmt.Errorf("invalid config(s): %s (not set on this %s)", strings.Join(invalid, ","), kind[:len(kind)-1])
		}
	}
	var alters []kadm.AlterConfig
	for _, kv := range set {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kmsg.StringPtr(kv[1])})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	var resps kadm.AlterConfigsResponses
	var err error
	switch {
	case kind == "topics":
		resps, err = adm.AlterTopicConfigs(ctx, alters, name)
	case name == "":
		resps, err = adm.AlterBrokerConfigs(ctx, alters)
	default:
		id, _ := strconv.ParseInt(name, 10, 32)
		resps, err = adm.AlterBrokerConfigs(ctx, alters, int32(id))
	}
	if err != nil {
		return o.describeErr("altering configs", err)
	}
	for _, r := range resps {
		if r.Err != nil {
			return fmt.Errorf("altering configs of %s %s: %s", kind[:len(kind)-1], name, kafkaErr(r.Err, r.ErrMessage))
		}
	}
	if isDefault || (kind == "brokers" && name == "") {
		fmt.Fprintf(stdout, "Completed updating default config for %s in the cluster.\n", kind)
	} else {
		fmt.Fprintf(stdout, "Completed updating config for %s %s.\n", kind[:len(kind)-1], name)
	}
	return nil
}
