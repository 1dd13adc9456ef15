package cli

// samsa dump-log (kafka-dump-log.sh): decode segment files offline. The
// files are read directly, so this works on a stopped broker's log dir as
// well as a running one's (a running broker's active segment may end in a
// partly written batch, reported as trailing bytes; its preallocated
// indexes end in zero entries, where the dump stops as Kafka's does).

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/txn"
)

func init() {
	Register(&Command{
		Name:    "dump-log",
		Summary: "decode log segment, index and time index files offline (kafka-dump-log.sh)",
		Kafka:   "kafka-dump-log.sh",
		Run:     runDumpLog,
	})
}

const dumpLogSynopsis = `  samsa dump-log --files FILE[,FILE...] [options]
  Decodes partition files from a log dir, as kafka-dump-log.sh does:
    <base>.log        one line per record batch; with --deep-iteration or
                      --print-data-log one line per record as well
    <base>.index      offset index entries (offset: N position: P), each checked
                      against the batch it points to in <base>.log
    <base>.timeindex  time index entries (timestamp: T offset: O), checked
                      against the log
  Index/log mismatches and non-consecutive offsets are listed on stderr after
  the dump, and the exit status is then 1 (Kafka exits 0).`

const dumpLogExamples = `  samsa dump-log --files data/orders-0/00000000000000000000.log
  samsa dump-log --files data/orders-0/00000000000000000000.log --print-data-log
  samsa dump-log --files data/orders-0/00000000000000000000.index,data/orders-0/00000000000000000000.timeindex
  samsa dump-log --verify-index-only --files data/orders-0/00000000000000000000.index`

type dumpLogOpts struct {
	printData   bool
	txnDecoder  bool // --transaction-log-decoder: __transaction_state records decoded
	deep        bool
	verifyOnly  bool
	sanityOnly  bool
	skipMeta    bool
	maxMsgSize  int
	maxBytes    int64
	stdout      io.Writer
	problems    []string // reported on stderr at the end
	problemHead map[string]bool
}

func runDumpLog(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			files          string
			keyDec, valDec string
			o              = &dumpLogOpts{stdout: stdout, problemHead: map[string]bool{},
				maxMsgSize: 5 * 1024 * 1024, maxBytes: math.MaxInt32}
		)
		fs := newFlagSet("dump-log", dumpLogSynopsis, dumpLogExamples)
		fs.String(&files, "files", "file,file", "REQUIRED: comma-separated data and index files to dump")
		fs.Bool(&o.printData, "print-data-log", "print the records' keys and values (implies --deep-iteration)")
		fs.Bool(&o.txnDecoder, "transaction-log-decoder", "decode the records as __transaction_state's transaction metadata (implies --print-data-log)")
		fs.Bool(&o.deep, "deep-iteration", "print every record, not only the batches")
		fs.Bool(&o.verifyOnly, "verify-index-only", "check index entries against the log without printing them")
		fs.Bool(&o.sanityOnly, "index-sanity-check", "only run the sanity check the broker runs on an index at start-up")
		fs.Bool(&o.skipMeta, "skip-record-metadata", "leave record metadata out when printing records")
		fs.Int(&o.maxMsgSize, "max-message-size", "bytes", "largest batch read when checking an index entry (default 5242880)")
		fs.Int64(&o.maxBytes, "max-bytes", "bytes", "stop a log dump after this many bytes (default 2147483647)")
		fs.String(&keyDec, "key-decoder-class", "class", "accepted for compatibility; keys print as text")
		fs.String(&valDec, "value-decoder-class", "class", "accepted for compatibility; values print as text")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		if files == "" {
			return errors.New("option --files is required")
		}
		if o.txnDecoder {
			o.printData = true
		}
		if o.printData {
			o.deep = true
		}
		for _, name := range strings.Split(files, ",") {
			if name == "" {
				continue
			}
			fmt.Fprintf(stdout, "Dumping %s\n", name)
			var err error
			switch filepath.Ext(name) {
			case ".log":
				err = o.dumpLog(name)
			case ".index":
				err = o.dumpIndex(name)
			case ".timeindex":
				err = o.dumpTimeIndex(name)
			default:
				fmt.Fprintf(stderr, "Ignoring unknown file %s\n", name)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		for _, p := range o.problems {
			fmt.Fprintln(stderr, p)
		}
		if n := len(o.problems) - len(o.problemHead); n > 0 {
			return fmt.Errorf("found %d problem(s), listed above", n)
		}
		return nil
	})
}

// problem records a finding under a heading (printed once).
func (o *dumpLogOpts) problem(head, line string) {
	if !o.problemHead[head] {
		o.problemHead[head] = true
		o.problems = append(o.problems, head)
	}
	o.problems = append(o.problems, "  "+line)
}

// dumpSegmentBase parses the base offset from a segment file name.
func dumpSegmentBase(path string) (int64, error) {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	n, err := strconv.ParseInt(base, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("file name does not start with a base offset")
	}
	return n, nil
}

// dumpSiblingLog is the .log file of the segment an index file belongs to.
func dumpSiblingLog(path string) string {
	dir, base := filepath.Split(path)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return filepath.Join(dir, base+".log")
}

// dumpSegmentReader reads batches from a .log file at given positions.
type dumpSegmentReader struct {
	f    *os.File
	size int64
	buf  []byte
}

func openDumpSegment(path string) (*dumpSegmentReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &dumpSegmentReader{f: f, size: st.Size()}, nil
}

func (s *dumpSegmentReader) Close() error { return s.f.Close() }

// batchAt reads the whole batch starting at pos, at most limit bytes. The
// returned bytes are valid until the next call.
func (s *dumpSegmentReader) batchAt(pos int64, limit int) ([]byte, records.Header, error) {
	var h records.Header
	if pos < 0 || pos+records.HeaderSize > s.size {
		return nil, h, records.ErrTruncated
	}
	var hdr [records.HeaderSize]byte
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, h, err
	}
	length := int64(int32(binary.BigEndian.Uint32(hdr[8:])))
	size := records.LogOverhead + length
	if length < records.HeaderSize-records.LogOverhead {
		return nil, h, fmt.Errorf("%w: batch length %d", records.ErrCorrupt, length)
	}
	if pos+size > s.size {
		return nil, h, records.ErrTruncated
	}
	if size > int64(limit) {
		return nil, h, fmt.Errorf("batch of %d bytes over the limit of %d", size, limit)
	}
	if int64(cap(s.buf)) < size {
		s.buf = make([]byte, size)
	}
	b := s.buf[:size]
	if _, err := s.f.ReadAt(b, pos); err != nil {
		return nil, h, err
	}
	h, err := records.ParseHeader(b)
	return b, h, err
}

func batchTimestampType(h *records.Header) string {
	if h.LogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func (o *dumpLogOpts) dumpLog(path string) error {
	base, err := dumpSegmentBase(path)
	if err != nil {
		return err
	}
	seg, err := openDumpSegment(path)
	if err != nil {
		return err
	}
	defer seg.Close()
	fmt.Fprintf(o.stdout, "Log starting offset: %d\n", base)
	end := min(seg.size, o.maxBytes)
	var (
		pos        int64
		lastOffset int64 = -1
		line       []byte
	)
	for pos < end {
		batch, h, err := seg.batchAt(pos, math.MaxInt32)
		if err != nil || pos+int64(h.Size()) > end {
			break
		}
		valid := records.CheckCRC(batch, &h) == nil
		line = dumpBatchLine(line[:0], &h, pos, valid)
		o.stdout.Write(line)
		if o.deep {
			err := records.Records(batch, 64*int(h.Length)+1<<20, func(r *records.Record) error {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if lastOffset >= 0 && off != lastOffset+1 {
					o.problem("Non-consecutive offsets in "+path, fmt.Sprintf("%d is followed by %d", lastOffset, off))
				}
				lastOffset = off
				line = o.appendRecordLine(line[:0], &h, r)
				_, err := o.stdout.Write(line)
				return err
			})
			if err != nil {
				fmt.Fprintf(o.stdout, "| records of the batch at position %d could not be decoded: %v\n", pos, err)
			}
		}
		pos += int64(h.Size())
	}
	if pos < seg.size && o.maxBytes >= seg.size {
		fmt.Fprintf(o.stdout, "Found %d invalid bytes at the end of %s\n", seg.size-pos, filepath.Base(path))
	}
	return nil
}

// dumpBatchLine formats a batch as kafka-dump-log.sh does.
func dumpBatchLine(b []byte, h *records.Header, pos int64, valid bool) []byte {
	horizon := "OptionalLong.empty"
	if h.Attributes&records.AttrDeleteHorizon != 0 {
		horizon = "OptionalLong[" + strconv.FormatInt(h.FirstTimestamp, 10) + "]"
	}
	return fmt.Appendf(b, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d "+
		"producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t "+
		"deleteHorizonMs: %s position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.NumRecords, h.BaseSequence, h.LastSequence(),
		h.ProducerID, h.ProducerEpoch, h.PartitionLeaderEpoch, h.IsTransactional(), h.IsControl(),
		horizon, pos, batchTimestampType(h), h.MaxTimestamp, h.Size(), h.Magic, h.Codec(), h.CRC, valid)
}

// appendRecordLine formats a record as kafka-dump-log.sh --deep-iteration
// (and --print-data-log) does.
func (o *dumpLogOpts) appendRecordLine(b []byte, h *records.Header, r *records.Record) []byte {
	prefix := "| "
	if !o.skipMeta {
		ts := h.FirstTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		seq := int64(-1)
		if h.BaseSequence != records.NoSequence {
			seq = (int64(h.BaseSequence) + int64(r.OffsetDelta)) % (1 << 31)
		}
		b = fmt.Appendf(b, "| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [",
			h.BaseOffset+int64(r.OffsetDelta), batchTimestampType(h), ts, dumpNullableLen(r.Key), dumpNullableLen(r.Value), seq)
		for i, hd := range r.Headers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, hd.Key...)
		}
		b = append(b, ']')
		prefix = " "
		if h.IsControl() {
			b = dumpControlRecord(b, r)
		}
	}
	if o.printData && !h.IsControl() && o.txnDecoder {
		return append(dumpTxnRecord(append(b, prefix...), r), '\n')
	}
	if o.printData && !h.IsControl() {
		if r.Key != nil {
			b = append(b, prefix+"key: "...)
			b = dumpPrintable(b, r.Key)
		}
		if r.Value != nil {
			b = append(b, " payload: "...)
			b = dumpPrintable(b, r.Value)
		}
	}
	return append(b, '\n')
}

// dumpControlRecord describes a control record: a transaction marker is
// key (version int16, type int16) and value (version int16, coordinator
// epoch int32).
func dumpControlRecord(b []byte, r *records.Record) []byte {
	if len(r.Key) < 4 {
		return append(b, " controlType: UNKNOWN"...)
	}
	typ := int16(binary.BigEndian.Uint16(r.Key[2:]))
	switch typ {
	case 0, 1:
		name := "ABORT"
		if typ == 1 {
			name = "COMMIT"
		}
		epoch := int32(-1)
		if len(r.Value) >= 6 {
			epoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		}
		return fmt.Appendf(b, " endTxnMarker: %s coordinatorEpoch: %d", name, epoch)
	}
	return fmt.Appendf(b, " controlType: UNKNOWN(%d)", typ)
}

func dumpNullableLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// dumpPrintable appends text as is, and other bytes as Go escapes, so a
// binary value cannot break the one-line-per-record layout.
func dumpPrintable(b, v []byte) []byte {
	if utf8.Valid(v) && !strings.ContainsAny(string(v), "\n\r") {
		return append(b, v...)
	}
	q := strconv.Quote(string(v))
	return append(b, q[1:len(q)-1]...)
}

// dumpIndexEntries reads a whole index file and returns its entries up to
// the first zero entry after the first (the preallocated tail of an active
// segment's index, where Kafka's dump stops too).
func dumpIndexEntries(path string, entrySize int) ([][]byte, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(data)%entrySize != 0 {
		return nil, 0, fmt.Errorf("size %d is not a multiple of the entry size %d", len(data), entrySize)
	}
	var out [][]byte
	for i := 0; i+entrySize <= len(data); i += entrySize {
		e := data[i : i+entrySize]
		if i > 0 && dumpAllZero(e) {
			break
		}
		out = append(out, e)
	}
	return out, int64(len(data)), nil
}

func dumpAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (o *dumpLogOpts) dumpIndex(path string) error {
	base, err := dumpSegmentBase(path)
	if err != nil {
		return err
	}
	entries, _, err := dumpIndexEntries(path, 8)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.stdout, "%s is empty.\n", path)
		return nil
	}
	seg, err := openDumpSegment(dumpSiblingLog(path))
	if err != nil {
		return fmt.Errorf("its log file: %w", err)
	}
	defer seg.Close()
	if o.sanityOnly {
		prevRel, prevPos := int64(-1), int64(-1)
		for i, e := range entries {
			rel, pos := int64(int32(binary.BigEndian.Uint32(e))), int64(int32(binary.BigEndian.Uint32(e[4:])))
			if rel <= prevRel || pos <= prevPos || pos >= seg.size {
				return fmt.Errorf("failed sanity check: entry %d (offset %d, position %d) is out of order or past the log", i, base+rel, pos)
			}
			prevRel, prevPos = rel, pos
		}
		fmt.Fprintf(o.stdout, "%s passed sanity check.\n", path)
		return nil
	}
	head := "Mismatches in :" + path
	for _, e := range entries {
		off := base + int64(int32(binary.BigEndian.Uint32(e)))
		pos := int64(int32(binary.BigEndian.Uint32(e[4:])))
		_, h, err := seg.batchAt(pos, o.maxMsgSize)
		switch {
		case err != nil:
			o.problem(head, fmt.Sprintf("Index offset: %d, position %d is not the start of a batch (%v)", off, pos, err))
		case h.LastOffset() != off:
			o.problem(head, fmt.Sprintf("Index offset: %d, log offset: %d", off, h.LastOffset()))
		}
		if !o.verifyOnly {
			fmt.Fprintf(o.stdout, "offset: %d position: %d\n", off, pos)
		}
	}
	return nil
}

// dumpLookupIndex returns the position the offset index gives for off (0 when
// the index has no entry at or below it, or cannot be read).
func dumpLookupIndex(indexPath string, base, off int64) int64 {
	entries, _, err := dumpIndexEntries(indexPath, 8)
	if err != nil {
		return 0
	}
	pos := int64(0)
	for _, e := range entries {
		if base+int64(int32(binary.BigEndian.Uint32(e))) > off {
			break
		}
		pos = int64(int32(binary.BigEndian.Uint32(e[4:])))
	}
	return pos
}

func (o *dumpLogOpts) dumpTimeIndex(path string) error {
	base, err := dumpSegmentBase(path)
	if err != nil {
		return err
	}
	entries, _, err := dumpIndexEntries(path, 12)
	if err != nil {
		return err
	}
	seg, err := openDumpSegment(dumpSiblingLog(path))
	if err != nil {
		return fmt.Errorf("its log file: %w", err)
	}
	defer seg.Close()
	indexPath := strings.TrimSuffix(path, ".timeindex") + ".index"
	prevTs := int64(math.MinInt64)
	for i, e := range entries {
		ts := int64(binary.BigEndian.Uint64(e))
		off := base + int64(int32(binary.BigEndian.Uint32(e[8:])))
		if o.sanityOnly {
			if ts <= prevTs {
				return fmt.Errorf("failed sanity check: entry %d (timestamp %d) is not after the previous one", i, ts)
			}
			prevTs = ts
			continue
		}
		// The entry names the last offset of the batch holding the max
		// timestamp: find that batch from the offset index's position.
		pos := dumpLookupIndex(indexPath, base, off)
		found := false
		for pos < seg.size {
			_, h, err := seg.batchAt(pos, math.MaxInt32)
			if err != nil {
				break
			}
			if h.LastOffset() >= off {
				found = true
				if h.LastOffset() != off {
					o.problem("The following indexed offsets are not found in the log.",
						fmt.Sprintf("Indexed offset: %d, found log offset: %d", off, h.LastOffset()))
				} else if h.MaxTimestamp != ts {
					o.problem("Found timestamp mismatch in :"+path,
						fmt.Sprintf("Index timestamp: %d, log timestamp: %d", ts, h.MaxTimestamp))
				}
				break
			}
			pos += int64(h.Size())
		}
		if !found {
			o.problem("The following indexed offsets are not found in the log.",
				fmt.Sprintf("Indexed offset: %d, found log offset: -1", off))
		}
		if prevTs >= ts {
			o.problem("Found out of order timestamp in :"+path,
				fmt.Sprintf("Index timestamp: %d, Previously indexed timestamp: %d", ts, prevTs))
		}
		prevTs = ts
		if !o.verifyOnly {
			fmt.Fprintf(o.stdout, "timestamp: %d offset: %d\n", ts, off)
		}
	}
	if o.sanityOnly {
		fmt.Fprintf(o.stdout, "%s passed sanity check.\n", path)
	}
	return nil
}

// dumpTxnRecord prints a __transaction_state record as Kafka 4.x's
// kafka-dump-log.sh --transaction-log-decoder does: the key and value as
// JSON in the schemas' field names, "<DELETE>" for a tombstone. A record
// that does not decode is printed as text.
func dumpTxnRecord(b []byte, r *records.Record) []byte {
	id, err := txn.DecodeKey(r.Key)
	if err != nil {
		b = append(b, "key: "...)
		return dumpPrintable(b, r.Key)
	}
	k, _ := json.Marshal(map[string]any{"type": "0", "data": map[string]any{"transactionalId": id}})
	b = append(b, "key: "...)
	b = append(b, k...)
	b = append(b, " payload: "...)
	if r.Value == nil {
		return append(b, "<DELETE>"...)
	}
	v, err := txn.DecodeValue(r.Value)
	if err != nil {
		return dumpPrintable(b, r.Value)
	}
	type tps struct {
		Topic        string  `json:"topic"`
		PartitionIDs []int32 `json:"partitionIds"`
	}
	parts := []tps{}
	for _, tp := range v.Partitions {
		if n := len(parts); n > 0 && parts[n-1].Topic == tp.Topic {
			parts[n-1].PartitionIDs = append(parts[n-1].PartitionIDs, tp.Partition)
			continue
		}
		parts = append(parts, tps{tp.Topic, []int32{tp.Partition}})
	}
	version := binary.BigEndian.Uint16(r.Value)
	data := map[string]any{
		"producerId": v.ProducerID, "producerEpoch": v.ProducerEpoch, "transactionTimeoutMs": v.TimeoutMs,
		"transactionStatus": int8(v.State), "transactionPartitions": parts,
		"transactionLastUpdateTimestampMs": v.LastUpdateMs, "transactionStartTimestampMs": v.StartMs,
	}
	if version >= 1 {
		data["previousProducerId"] = v.PreviousProducerID
		data["nextProducerId"] = v.NextProducerID
		data["clientTransactionVersion"] = v.ClientTransactionVersion
	}
	if v.State == txn.Empty {
		data["transactionPartitions"] = nil
	}
	j, _ := json.Marshal(map[string]any{"version": fmt.Sprint(version), "data": data})
	return append(b, j...)
}
