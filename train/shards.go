package train

import (
	"encoding/json"
	"errors"
	"fmt"
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

// shardTokens reads the run's input shards (rc.TrainShards, rc.ValidShards)
// and records them in man; without validation shards the last 5% of the
// training tokens are held out, as for a text.
func shardTokens(rc RunConfig, vocab int, man *Manifest, pr *progress) (train, valid []int32, err error) {
	record := func(paths []string) ([]FileRecord, error) {
		recs := make([]FileRecord, len(paths))
		for i, p := range paths {
			if recs[i], err = HashFile(p); err != nil {
				return nil, err
			}
		}
		return recs, nil
	}
	if man.InputShards, err = record(rc.TrainShards); err != nil {
		return nil, nil, err
	}
	if man.InputValidShards, err = record(rc.ValidShards); err != nil {
		return nil, nil, err
	}
	if train, err = readShards(rc.TrainShards, vocab); err != nil {
		return nil, nil, err
	}
	if len(rc.ValidShards) > 0 {
		if valid, err = readShards(rc.ValidShards, vocab); err != nil {
			return nil, nil, err
		}
	} else {
		train, valid = holdOut(train)
	}
	pr.println("shards: %d training tokens from %d files, %d validation tokens", len(train), len(rc.TrainShards), len(valid))
	return train, valid, nil
}

// sameRecords reports whether paths hash to recs, in order.
func sameRecords(paths []string, recs []FileRecord) bool {
	if len(paths) != len(recs) {
		return false
	}
	for i, p := range paths {
		r, err := HashFile(p)
		if err != nil || !r.same(recs[i]) {
			return false
		}
	}
	return true
}
