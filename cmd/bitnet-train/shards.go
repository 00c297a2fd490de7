package main

import (
	"strings"

	"github.com/bitnet-go/bitnet/train"
)

// shardInputs sets rc to train from -shards (bitnet-data output directories
// or shard files) instead of a text.
func shardInputs(o *options, rc *train.RunConfig) error {
	if o.shards == "" {
		return nil
	}
	tr, va, err := train.ShardInputs(strings.Split(o.shards, ","))
	if err != nil {
		return err
	}
	rc.TrainShards, rc.ValidShards = tr, va
	return nil
}
