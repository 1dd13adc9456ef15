package group

import (
	"cmp"
	"slices"
)

// Server-side assignors of the consumer protocol (KIP-848). A member names
// the one it prefers in ConsumerGroupHeartbeat's ServerAssignor; the group
// uses the one most members prefer (ties and no preference: "uniform").
const (
	// AssignorUniform spreads the partitions of all subscribed topics
	// evenly over the members (their counts differ by at most one when
	// subscriptions are equal) and keeps each partition where it was
	// when that does not break the balance.
	AssignorUniform = "uniform"
	// AssignorRange gives each member a contiguous range of every topic
	// it subscribes to, as the classic client-side range assignor does;
	// members are ordered by group.instance.id, else member id, so that
	// static members keep their ranges across restarts.
	AssignorRange = "range"
)

// knownAssignor is whether name is a server-side assignor we have.
func knownAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id     string
	sortBy string // instance id, else member id
	topics map[string]bool
}

type tpKey struct {
	topic string
	p     int32
}

// assign computes a target assignment. topics holds the existing topics
// the members may subscribe to; prev is the current target, for stickiness.
func assign(assignor string, members []assignMember, topics map[string]TopicInfo, prev map[string]tps) map[string]tps {
	var owner map[tpKey]string
	if assignor == AssignorRange {
		owner = assignRange(members, topics)
	} else {
		owner = assignUniform(members, topics, prev)
	}
	out := make(map[string]tps, len(members))
	for _, m := range members {
		out[m.id] = tps{}
	}
	for k, id := range owner {
		t := topics[k.topic]
		out[id][t.ID] = append(out[id][t.ID], k.p)
	}
	for _, a := range out {
		for id := range a {
			slices.Sort(a[id])
		}
	}
	return out
}

func subscribedTopicNames(members []assignMember, topics map[string]TopicInfo) []string {
	set := map[string]bool{}
	for _, m := range members {
		for t := range m.topics {
			if _, ok := topics[t]; ok {
				set[t] = true
			}
		}
	}
	names := make([]string, 0, len(set))
	for t := range set {
		names = append(names, t)
	}
	slices.Sort(names)
	return names
}

func assignRange(members []assignMember, topics map[string]TopicInfo) map[tpKey]string {
	owner := map[tpKey]string{}
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b assignMember) int {
		return cmp.Or(cmp.Compare(a.sortBy, b.sortBy), cmp.Compare(a.id, b.id))
	})
	for _, name := range subscribedTopicNames(members, topics) {
		var subs []string
		for _, m := range sorted {
			if m.topics[name] {
				subs = append(subs, m.id)
			}
		}
		n := int32(len(subs))
		parts := topics[name].Partitions
		per, extra := parts/n, parts%n
		p := int32(0)
		for i, id := range subs {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for j := int32(0); j < cnt; j++ {
				owner[tpKey{name, p}] = id
				p++
			}
		}
	}
	return owner
}

func assignUniform(members []assignMember, topics map[string]TopicInfo, prev map[string]tps) map[tpKey]string {
	byID := map[string]*assignMember{}
	order := make([]string, 0, len(members))
	for i := range members {
		byID[members[i].id] = &members[i]
		order = append(order, members[i].id)
	}
	slices.Sort(order)
	names := map[[16]byte]string{}
	for name, t := range topics {
		names[t.ID] = name
	}
	owner := map[tpKey]string{}
	owned := map[string][]tpKey{}
	count := map[string]int{}
	give := func(k tpKey, id string) {
		owner[k] = id
		owned[id] = append(owned[id], k)
		count[id]++
	}
	// Keep what the previous target gave a member that still
	// subscribes to the topic.
	for _, id := range order {
		m := byID[id]
		a := prev[id]
		for _, tid := range a.sortedIDs() {
			name, ok := names[tid]
			if !ok || !m.topics[name] {
				continue
			}
			for _, p := range a[tid] {
				k := tpKey{name, p}
				if p < topics[name].Partitions && owner[k] == "" {
					give(k, id)
				}
			}
		}
	}
	eligible := func(name string) []string {
		var out []string
		for _, id := range order {
			if byID[id].topics[name] {
				out = append(out, id)
			}
		}
		return out
	}
	leastLoaded := func(ids []string) string {
		best := ""
		for _, id := range ids {
			if best == "" || count[id] < count[best] {
				best = id
			}
		}
		return best
	}
	// Place the partitions nobody has on the least loaded members.
	subscribed := subscribedTopicNames(members, topics)
	elig := map[string][]string{}
	for _, name := range subscribed {
		elig[name] = eligible(name)
		for p := int32(0); p < topics[name].Partitions; p++ {
			k := tpKey{name, p}
			if owner[k] == "" {
				give(k, leastLoaded(elig[name]))
			}
		}
	}
	// Balance: move partitions from the most loaded members to members
	// with at least two fewer that may take them, until none can move.
	total := len(owner)
	for iter := 0; iter < total*len(order)+1; iter++ {
		heavy := slices.Clone(order)
		slices.SortStableFunc(heavy, func(a, b string) int { return cmp.Compare(count[b], count[a]) })
		moved := false
		for _, h := range heavy {
			ks := owned[h]
			for i := len(ks) - 1; i >= 0 && !moved; i-- {
				k := ks[i]
				var light string
				for _, id := range elig[k.topic] {
					if count[id] <= count[h]-2 && (light == "" || count[id] < count[light]) {
						light = id
					}
				}
				if light == "" {
					continue
				}
				owned[h] = append(ks[:i:i], ks[i+1:]...)
				count[h]--
				give(k, light)
				moved = true
			}
			if moved {
				break
			}
		}
		if !moved {
			break
		}
	}
	return owner
}
