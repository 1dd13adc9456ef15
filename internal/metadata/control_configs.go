package metadata

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The operations of IncrementalAlterConfigs (ConfigOp.Op).
const (
	ConfigOpSet      int8 = 0
	ConfigOpDelete   int8 = 1
	ConfigOpAppend   int8 = 2
	ConfigOpSubtract int8 = 3
)

// ConfigOp is one config change.
type ConfigOp struct {
	Name  string
	Value *string
	Op    int8 // ConfigOpSet, ConfigOpDelete, ConfigOpAppend, ConfigOpSubtract
}

// AlterConfigs changes the dynamic configs of one resource (a topic, a
// broker, or with broker name "" the cluster-wide broker default)
// atomically. With replace (legacy AlterConfigs) ops is the complete new
// set: Op is ignored, every op with a value sets it and every config not
// listed is deleted. Otherwise the ops apply one by one, as in
// IncrementalAlterConfigs; APPEND and SUBTRACT treat the value as a
// comma-separated list and work on the current value, or on the config's
// default (Config.ListConfigDefault) when none is set.
func (n *Node) AlterConfigs(ctx context.Context, res ConfigResource, ops []ConfigOp, replace bool, validateOnly bool) error {
	switch res.Type {
	case ConfigResourceTopic:
	case ConfigResourceBroker:
		if res.Name != "" {
			if id, err := strconv.ParseInt(res.Name, 10, 32); err != nil || id < 0 {
				return fmt.Errorf("%w: broker config resource name %q is not a broker id", ErrInvalidRequest, res.Name)
			}
		}
	default:
		return fmt.Errorf("%w: config resource type %d is not supported", ErrInvalidRequest, res.Type)
	}
	names := map[string]bool{}
	for _, op := range ops {
		if op.Name == "" {
			return fmt.Errorf("%w: a config name is empty", ErrInvalidConfig)
		}
		if names[op.Name] {
			return fmt.Errorf("%w: config %q appears more than once", ErrInvalidRequest, op.Name)
		}
		names[op.Name] = true
	}

	var opErr error
	err := n.run(ctx, func(img *Image) result {
		recs, err := n.ctl.alterConfigs(img, res, ops, replace)
		if err != nil || validateOnly || len(recs) == 0 {
			opErr = err
			return result{}
		}
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	return cmp.Or(err, opErr)
}

// alterConfigs decides an AlterConfigs: the config records of the changes
// that change something, one batch.
func (c *controls) alterConfigs(img *Image, res ConfigResource, ops []ConfigOp, replace bool) ([]Record, error) {
	if res.Type == ConfigResourceTopic && img.Topics[res.Name] == nil {
		return nil, fmt.Errorf("%w: topic %q does not exist", ErrUnknownTopic, res.Name)
	}
	cur := img.ConfigsFor(res)
	changes, err := c.configChanges(res, cur, ops, replace)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		v := changes[name]
		old, set := cur[name]
		if v == nil && !set || v != nil && set && *v == old {
			continue
		}
		if err := c.validateConfig(res.Type, name, v); err != nil {
			return nil, err
		}
		recs = append(recs, &ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: name, Value: v})
	}
	return recs, nil
}

// configChanges computes the new value of each config the ops touch (nil:
// delete).
func (c *controls) configChanges(res ConfigResource, cur map[string]string, ops []ConfigOp, replace bool) (map[string]*string, error) {
	changes := map[string]*string{}
	if replace {
		for name := range cur {
			changes[name] = nil
		}
		for _, op := range ops {
			changes[op.Name] = op.Value
		}
		return changes, nil
	}
	for _, op := range ops {
		switch op.Op {
		case ConfigOpSet:
			if op.Value == nil {
				return nil, fmt.Errorf("%w: config %q: SET needs a value", ErrInvalidConfig, op.Name)
			}
			changes[op.Name] = op.Value
		case ConfigOpDelete:
			changes[op.Name] = nil
		case ConfigOpAppend, ConfigOpSubtract:
			if op.Value == nil {
				return nil, fmt.Errorf("%w: config %q: APPEND and SUBTRACT need a value", ErrInvalidConfig, op.Name)
			}
			def, isList := "", true
			if c.cfg.ListConfigDefault != nil {
				def, isList = c.cfg.ListConfigDefault(res.Type, op.Name)
			}
			if !isList {
				return nil, fmt.Errorf("%w: config %q is not a list; APPEND and SUBTRACT apply to lists only", ErrInvalidConfig, op.Name)
			}
			base, ok := cur[op.Name]
			if !ok {
				base = def
			}
			v := editList(base, *op.Value, op.Op == ConfigOpAppend)
			changes[op.Name] = &v
		default:
			return nil, fmt.Errorf("%w: config %q: unknown operation %d", ErrInvalidRequest, op.Name, op.Op)
		}
	}
	return changes, nil
}

// editList appends the items of change that list lacks, or removes those it
// has, keeping the order of list. Lists are comma-separated.
func editList(list, change string, add bool) string {
	items := splitList(list)
	for _, it := range splitList(change) {
		i := slices.Index(items, it)
		switch {
		case add && i < 0:
			items = append(items, it)
		case !add && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}

func splitList(s string) []string {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	return items
}

// validateConfig runs the configured validator for the resource type.
func (c *controls) validateConfig(resType int8, name string, value *string) error {
	validate := c.cfg.ValidateTopicConfig
	if resType == ConfigResourceBroker {
		validate = c.cfg.ValidateBrokerConfig
	}
	if validate == nil {
		return nil
	}
	if err := validate(name, value); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name, err)
	}
	return nil
}
