package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

func init() {
	Register(&Command{
		Name:    "metadata-shell",
		Summary: "browse the cluster metadata as a tree (kafka-metadata-shell.sh)",
		Kafka:   "kafka-metadata-shell.sh",
		Run:     runMetadataShell,
	})
}

const metadataShellSynopsis = `  samsa metadata-shell (--bootstrap-server HOST:PORT | --directory DIR) [COMMAND ...]
  Browses the cluster metadata as a tree of files. Online, with
  --bootstrap-server, the tree is built from the cluster's answers
  (Metadata, DescribeCluster, DescribeConfigs, ListPartitionReassignments);
  offline, with --directory (or --snapshot), from a node's metadata log
  directory (<metadata.log.dir>/__cluster_metadata-0, the node stopped).
  Two layouts side by side:
    /brokers/ids/1, /brokers/topics/T, /brokers/topics/T/partitions/0/state,
    /controller, /cluster/id, /config/topics/T, /config/brokers/<default>,
    /admin/reassign_partitions (ZooKeeper's paths, JSON files)
    /image/... (kafka-metadata-shell's layout of the KRaft image, with
    /image/features/metadataVersion and finalized_<feature>)
  Commands: ls [PATH], cd [PATH], pwd, cat PATH..., tree [PATH],
  find [PATH], help, exit. With a COMMAND it runs that one and exits;
  without, it reads commands from stdin.`

const metadataShellExamples = `  samsa metadata-shell --bootstrap-server 127.0.0.1:9092 ls /brokers/ids
  samsa metadata-shell --bootstrap-server 127.0.0.1:9092 cat /brokers/topics/events/partitions/0/state
  samsa metadata-shell --directory ./samsa-data/__cluster_metadata-0 tree /image/topics`

// shellNode is a directory (children) or a file (data).
type shellNode struct {
	children map[string]*shellNode
	data     string
	file     bool
}

func newDir() *shellNode { return &shellNode{children: map[string]*shellNode{}} }

// put creates a file at p (absolute), making the directories on the way.
func (n *shellNode) put(p, data string) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	cur := n
	for _, part := range parts[:len(parts)-1] {
		next := cur.children[part]
		if next == nil || next.file {
			next = newDir()
			cur.children[part] = next
		}
		cur = next
	}
	leaf := parts[len(parts)-1]
	if existing := cur.children[leaf]; existing != nil && !existing.file {
		// A file and a directory of one name (ZooKeeper's znodes have
		// both): the data goes in the directory node.
		existing.data, existing.file = data, false
		existing.children[""] = &shellNode{data: data, file: true}
		return
	}
	cur.children[leaf] = &shellNode{data: data, file: true}
}

// dir makes sure a directory exists at p.
func (n *shellNode) dir(p string) *shellNode {
	cur := n
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		next := cur.children[part]
		if next == nil {
			next = newDir()
			cur.children[part] = next
		} else if next.file {
			d := newDir()
			d.children[""] = next
			cur.children[part] = d
			next = d
		}
		cur = next
	}
	return cur
}

func (n *shellNode) lookup(p string) *shellNode {
	cur := n
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		if cur.file || cur.children[part] == nil {
			return nil
		}
		cur = cur.children[part]
	}
	return cur
}

// content is what cat shows: a file's data, or a directory's own data
// (a znode with children and data).
func (n *shellNode) content() (string, bool) {
	if n.file {
		return n.data, true
	}
	if f := n.children[""]; f != nil {
		return f.data, true
	}
	return "", false
}

func (n *shellNode) names() []string {
	var out []string
	for k := range n.children {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// buildShellTree lays an image out in both layouts.
func buildShellTree(img *metadata.Image, online bool) *shellNode {
	root := newDir()
	for _, d := range []string{"/brokers/ids", "/brokers/topics", "/config/topics", "/config/brokers", "/admin", "/image/topics/byName", "/image/topics/byId", "/image/cluster/brokers", "/image/configs"} {
		root.dir(d)
	}
	root.put("/cluster/id", jsonString(map[string]string{"version": "1", "id": img.ClusterID}))
	if img.ControllerID >= 0 {
		root.put("/controller", fmt.Sprintf(`{"version":2,"brokerid":%d}`, img.ControllerID))
	}
	root.put("/image/cluster/clusterId", img.ClusterID)
	if img.FeaturesFinalized() {
		// kafka-metadata-shell's layout: metadataVersion by name, the
		// other finalized levels as finalized_<name>.
		for name, level := range img.Features {
			if name == metadata.FeatureMetadataVersion {
				root.put("/image/features/metadataVersion", metadata.FeatureLevelString(name, level))
			} else {
				root.put("/image/features/finalized_"+name, strconv.Itoa(int(level)))
			}
		}
	}
	if !online {
		root.put("/image/provenance/offset", strconv.FormatUint(img.Offset, 10))
		root.put("/image/producerIds/nextProducerId", strconv.FormatInt(img.NextProducerID, 10))
	}
	for _, id := range img.BrokerIDs() {
		b := img.Brokers[id]
		var eps []string
		for _, e := range b.Endpoints {
			eps = append(eps, fmt.Sprintf("%s://%s:%d", e.Name, e.Host, e.Port))
		}
		zk := map[string]any{"version": 5, "endpoints": eps, "rack": b.Rack}
		if len(b.Endpoints) > 0 {
			zk["host"], zk["port"] = b.Endpoints[0].Host, b.Endpoints[0].Port
		}
		if !online {
			zk["fenced"], zk["epoch"] = b.Fenced, b.Epoch
		}
		root.put(fmt.Sprintf("/brokers/ids/%d", id), jsonString(zk))
		dir := fmt.Sprintf("/image/cluster/brokers/%d", id)
		root.put(dir+"/id", strconv.Itoa(int(id)))
		root.put(dir+"/endpoints", strings.Join(eps, ","))
		rack := "null"
		if b.Rack != nil {
			rack = *b.Rack
		}
		root.put(dir+"/rack", rack)
		if !online {
			root.put(dir+"/fenced", strconv.FormatBool(b.Fenced))
			root.put(dir+"/inControlledShutdown", strconv.FormatBool(b.InControlledShutdown))
			root.put(dir+"/epoch", strconv.FormatInt(b.Epoch, 10))
			root.put(dir+"/incarnationId", metadata.FormatUUID(b.IncarnationID))
		}
	}
	names := make([]string, 0, len(img.Topics))
	for n := range img.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	var reassigning []reassignmentTarget
	for _, name := range names {
		t := img.Topics[name]
		id := metadata.FormatUUID(t.ID)
		parts := map[string][]int32{}
		adding, removing := map[string][]int32{}, map[string][]int32{}
		for _, p := range t.Partitions {
			k := strconv.Itoa(int(p.Partition))
			parts[k] = p.Replicas
			if len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0 {
				adding[k], removing[k] = orEmpty(p.AddingReplicas), orEmpty(p.RemovingReplicas)
				reassigning = append(reassigning, reassignmentTarget{Topic: name, Partition: p.Partition,
					Replicas: without(p.Replicas, p.RemovingReplicas)})
			}
			state := map[string]any{"version": 1, "leader": p.Leader, "leader_epoch": p.LeaderEpoch, "isr": orEmpty(p.ISR)}
			if !online {
				state["partition_epoch"] = p.PartitionEpoch
			}
			root.put(fmt.Sprintf("/brokers/topics/%s/partitions/%d/state", name, p.Partition), jsonString(state))
			reg := map[string]any{"replicas": p.Replicas, "isr": orEmpty(p.ISR), "leader": p.Leader, "leaderEpoch": p.LeaderEpoch,
				"addingReplicas": orEmpty(p.AddingReplicas), "removingReplicas": orEmpty(p.RemovingReplicas)}
			if !online {
				reg["partitionEpoch"] = p.PartitionEpoch
			}
			for _, base := range []string{"/image/topics/byName/" + name, "/image/topics/byId/" + id} {
				root.put(fmt.Sprintf("%s/%d", base, p.Partition), jsonString(reg))
			}
		}
		zk := map[string]any{"version": 3, "topic_id": id, "partitions": parts, "adding_replicas": adding, "removing_replicas": removing}
		root.put("/brokers/topics/"+name, jsonString(zk))
		for _, base := range []string{"/image/topics/byName/" + name, "/image/topics/byId/" + id} {
			root.put(base+"/id", id)
			root.put(base+"/name", name)
		}
		cfg := map[string]string{}
		for k, v := range t.Configs {
			cfg[k] = v
			root.put(fmt.Sprintf("/image/configs/TOPIC/%s/%s", name, k), v)
		}
		root.put("/config/topics/"+name, jsonString(map[string]any{"version": 1, "config": cfg}))
	}
	for res, set := range img.Configs {
		name := res.Name
		if name == "" {
			name = "<default>"
		}
		cfg := map[string]string{}
		for k, v := range set {
			cfg[k] = v
			root.put(fmt.Sprintf("/image/configs/BROKER/%s/%s", name, k), v)
		}
		root.put("/config/brokers/"+name, jsonString(map[string]any{"version": 1, "config": cfg}))
	}
	if len(reassigning) > 0 {
		root.put("/admin/reassign_partitions", formatReassignmentJSON(reassigning))
	}
	return root
}

func orEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func without(a, b []int32) []int32 {
	out := []int32{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// onlineImage builds an image from a running cluster's answers: what a
// client may see (live brokers, topics, dynamic configs, reassignments).
func onlineImage(adm *kadm.Client, c *conn) (*metadata.Image, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, c.describeErr("reading the metadata", err)
	}
	img := &metadata.Image{
		ClusterID:    md.Cluster,
		ControllerID: md.Controller,
		Brokers:      map[int32]*metadata.Broker{},
		Topics:       map[string]*metadata.Topic{},
		TopicsByID:   map[[16]byte]*metadata.Topic{},
		Configs:      map[metadata.ConfigResource]map[string]string{},
	}
	// The endpoints of every listener, from DescribeCluster v1+ where the
	// cluster serves it; Metadata's otherwise.
	for _, b := range md.Brokers {
		img.Brokers[b.NodeID] = &metadata.Broker{ID: b.NodeID, Rack: b.Rack,
			Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: b.Host, Port: b.Port}}}
	}
	var topics []string
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			continue
		}
		mt := &metadata.Topic{Name: t.Topic, ID: t.ID, Configs: map[string]string{}}
		for _, p := range t.Partitions.Sorted() {
			mt.Partitions = append(mt.Partitions, &metadata.Partition{Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: -1})
		}
		img.Topics[t.Topic], img.TopicsByID[t.ID] = mt, mt
		topics = append(topics, t.Topic)
	}
	if len(topics) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
		if err != nil {
			return nil, c.describeErr("describing topic configs", err)
		}
		for _, rc := range rcs {
			t := img.Topics[rc.Name]
			if t == nil || rc.Err != nil {
				continue
			}
			for _, cv := range rc.Configs {
				if cv.Source == kmsg.ConfigSourceDynamicTopicConfig && cv.Value != nil {
					t.Configs[cv.Key] = *cv.Value
				}
			}
		}
	}
	if rcs, err := adm.DescribeBrokerConfigs(ctx); err == nil {
		for _, rc := range rcs {
			set := map[string]string{}
			for _, cv := range rc.Configs {
				if cv.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig && cv.Value != nil {
					set[cv.Key] = *cv.Value
				}
			}
			if len(set) > 0 {
				img.Configs[metadata.ConfigResource{Type: metadata.ConfigResourceBroker}] = set
			}
		}
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa-metadata-shell", "1"
	if resp, err := av.RequestWith(ctx, c.cl); err == nil && resp.ErrorCode == 0 && len(resp.FinalizedFeatures) > 0 {
		img.Features = map[string]int16{}
		for _, f := range resp.FinalizedFeatures {
			img.Features[f.Name] = f.MaxVersionLevel
		}
	}
	if rs, err := listAllReassignments(ctx, c.cl); err == nil {
		for _, r := range rs {
			if p := img.Partition(r.Topic, r.Partition); p != nil {
				p.AddingReplicas, p.RemovingReplicas = r.AddingReplicas, r.RemovingReplicas
			}
		}
	}
	return img, nil
}

func runMetadataShell(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var dir, snapshot string
		fs := newFlagSet("metadata-shell", metadataShellSynopsis, metadataShellExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		fs.String(&dir, "directory", "dir", "a node's metadata log directory, read offline (the node stopped)")
		fs.String(&snapshot, "snapshot", "path", "the same as --directory (Kafka's name): the directory, or a file in it")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if dir == "" && snapshot != "" {
			dir = snapshot
			if st, err := os.Stat(snapshot); err == nil && !st.IsDir() {
				dir = path.Dir(snapshot)
			}
		}
		online := dir == ""
		var img *metadata.Image
		var err error
		if online {
			if len(c.seeds()) == 0 {
				return errors.New("give --bootstrap-server (online) or --directory (offline)")
			}
			adm, _, done, aerr := c.adminSession(stderr)
			if aerr != nil {
				return aerr
			}
			defer done()
			img, err = onlineImage(adm, &c)
		} else {
			img, err = metadata.ReadImage(dir)
		}
		if err != nil {
			return err
		}
		sh := &shell{root: buildShellTree(img, online), cwd: "/", out: stdout}
		if rest := fs.args; len(rest) > 0 {
			return sh.exec(rest)
		}
		sc := bufio.NewScanner(os.Stdin)
		for {
			fmt.Fprint(stdout, ">> ")
			if !sc.Scan() {
				fmt.Fprintln(stdout)
				return sc.Err()
			}
			words := strings.Fields(sc.Text())
			if len(words) == 0 {
				continue
			}
			if words[0] == "exit" || words[0] == "quit" {
				return nil
			}
			if err := sh.exec(words); err != nil {
				fmt.Fprintln(stdout, err)
			}
		}
	})
}

type shell struct {
	root *shellNode
	cwd  string
	out  io.Writer
}

func (sh *shell) abs(p string) string {
	if p == "" {
		return sh.cwd
	}
	if !strings.HasPrefix(p, "/") {
		p = path.Join(sh.cwd, p)
	}
	return path.Clean(p)
}

func (sh *shell) exec(words []string) error {
	arg := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	switch words[0] {
	case "help":
		fmt.Fprintln(sh.out, "ls [PATH]  cd [PATH]  pwd  cat PATH...  tree [PATH]  find [PATH]  exit")
	case "pwd":
		fmt.Fprintln(sh.out, sh.cwd)
	case "cd":
		p := sh.abs(arg(1))
		if arg(1) == "" {
			p = "/"
		}
		n := sh.root.lookup(p)
		if n == nil || n.file {
			return fmt.Errorf("cd: %s: no such directory", p)
		}
		sh.cwd = p
	case "ls":
		p := sh.abs(arg(1))
		n := sh.root.lookup(p)
		if n == nil {
			return fmt.Errorf("ls: %s: no such file or directory", p)
		}
		if n.file {
			fmt.Fprintln(sh.out, path.Base(p))
			return nil
		}
		for _, name := range n.names() {
			fmt.Fprintln(sh.out, name)
		}
	case "cat":
		if len(words) < 2 {
			return errors.New("cat: give a path")
		}
		for _, a := range words[1:] {
			p := sh.abs(a)
			n := sh.root.lookup(p)
			if n == nil {
				return fmt.Errorf("cat: %s: no such file or directory", p)
			}
			data, ok := n.content()
			if !ok {
				return fmt.Errorf("cat: %s: is a directory", p)
			}
			fmt.Fprintln(sh.out, data)
		}
	case "find":
		p := sh.abs(arg(1))
		n := sh.root.lookup(p)
		if n == nil {
			return fmt.Errorf("find: %s: no such file or directory", p)
		}
		var walk func(string, *shellNode)
		walk = func(at string, n *shellNode) {
			fmt.Fprintln(sh.out, at)
			for _, name := range n.names() {
				walk(path.Join(at, name), n.children[name])
			}
		}
		walk(p, n)
	case "tree":
		p := sh.abs(arg(1))
		n := sh.root.lookup(p)
		if n == nil {
			return fmt.Errorf("tree: %s: no such file or directory", p)
		}
		var walk func(string, *shellNode, string)
		walk = func(name string, n *shellNode, indent string) {
			if data, ok := n.content(); ok {
				fmt.Fprintf(sh.out, "%s%s: %s\n", indent, name, data)
			} else {
				fmt.Fprintf(sh.out, "%s%s:\n", indent, name)
			}
			for _, c := range n.names() {
				walk(c, n.children[c], indent+"  ")
			}
		}
		walk(path.Base(p), n, "")
	default:
		return fmt.Errorf("unknown command %q (help lists them)", words[0])
	}
	return nil
}
