package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs v1-v4.
//
// v2 is flexible, v3 adds a top-level error code, v4 the total and usable
// bytes of each dir. A null topic list describes every partition.
func init() { register(kmsg.DescribeLogDirs, 1, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	var want map[string]map[int32]bool
	if req.Topics != nil {
		want = map[string]map[int32]bool{}
		for _, t := range req.Topics {
			if want[t.Topic] == nil {
				want[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				want[t.Topic][p] = true
			}
		}
	}
	for _, d := range s.logs.DirInfos() {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = d.Path
		rd.TotalBytes, rd.UsableBytes = d.TotalBytes, d.UsableBytes
		byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		for _, p := range d.Partitions {
			if want != nil && !want[p.TopicPartition.Topic][p.TopicPartition.Partition] {
				continue
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size, rp.OffsetLag = p.TopicPartition.Partition, p.Size, p.OffsetLag
			byTopic[p.TopicPartition.Topic] = append(byTopic[p.TopicPartition.Topic], rp)
		}
		names := make([]string, 0, len(byTopic))
		for n := range byTopic {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = n
			rt.Partitions = byTopic[n]
			sort.Slice(rt.Partitions, func(i, j int) bool { return rt.Partitions[i].Partition < rt.Partitions[j].Partition })
			rd.Topics = append(rd.Topics, rt)
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	return resp
}
