package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitnet-go/bitnet/data"
)

// ShardInputs expands the -shards arguments: a bitnet-data output directory
// (its manifest.json names the train and valid shards) or a single shard
// file (training tokens). Several may be given; their tokens are
// concatenated in order.
func ShardInputs(args []string) (trainShards, validShards []string, err error) {
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			trainShards = append(trainShards, a)
			continue
		}
		b, err := os.ReadFile(filepath.Join(a, data.ManifestFile))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: not a bitnet-data directory: %w", a, err)
		}
		var m data.Report
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Join(a, data.ManifestFile), err)
		}
		for _, s := range m.TrainShards {
			trainShards = append(trainShards, filepath.Join(a, filepath.Base(s)))
		}
		for _, s := range m.ValidShards {
			validShards = append(validShards, filepath.Join(a, filepath.Base(s)))
		}
	}
	if len(trainShards) == 0 {
		return nil, nil, errors.New("no training shards in " + strings.Join(args, ", "))
	}
	return trainShards, validShards, nil
}

// readShards memory-maps shards and concatenates their ids (checked against
// vocab) into one stream.
func readShards(paths []string, vocab int) ([]int32, error) {
	total := 0
	shards := make([]*data.Shard, 0, len(paths))
	defer func() {
		for _, s := range shards {
			s.Close()
		}
	}()
	for _, p := range paths {
		s, err := data.OpenShard(p)
		if err != nil {
			return nil, err
		}
		shards = append(shards, s)
		if s.Vocab() != vocab {
			return nil, fmt.Errorf("shard %s has vocabulary %d, the model %d", p, s.Vocab(), vocab)
		}
		total += s.Len()
	}
	ids := make([]int32, 0, total)
	for i, s := range shards {
		var err error
		if ids, err = s.AppendTo(ids, 0, s.Len()); err != nil {
			return nil, fmt.Errorf("%s: %w", paths[i], err)
		}
	}
	return ids, nil
}

// ImportShards makes a run directory train from token shards (bitnet-data's
// output): their ids become the run's token cache (outDir/data/train.tok and
// valid.tok), which Run reads instead of tokenizing texts. Without
// validation shards the last 5% of the training ids are held out, as for
// texts. A run that already has its cache (a resumed run) keeps it. The
// trainer holds the stream in memory (4 bytes a token).
func ImportShards(outDir string, trainShards, validShards []string, vocab int, log io.Writer) error {
	trainPath := filepath.Join(outDir, "data", "train.tok")
	validPath := filepath.Join(outDir, "data", "valid.tok")
	if _, err := os.Stat(trainPath); err == nil {
		if _, err := os.Stat(validPath); err == nil {
			return nil
		}
	}
	tr, err := readShards(trainShards, vocab)
	if err != nil {
		return err
	}
	var va []int32
	if len(validShards) > 0 {
		if va, err = readShards(validShards, vocab); err != nil {
			return err
		}
	} else {
		cut := len(tr) * 95 / 100
		tr, va = tr[:cut], tr[cut:]
	}
	if err := os.MkdirAll(filepath.Dir(trainPath), 0o755); err != nil {
		return err
	}
	if err := WriteShard(trainPath, tr, vocab); err != nil {
		return err
	}
	if err := WriteShard(validPath, va, vocab); err != nil {
		return err
	}
	if log != nil {
		fmt.Fprintf(log, "shards: %d training tokens from %d files, %d validation tokens\n", len(tr), len(trainShards), len(va))
	}
	return nil
}
