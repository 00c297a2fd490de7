package main

import (
	"io"
	"strings"

	"github.com/bitnet-go/bitnet/train"
)

// importShards makes the run train from -shards: their tokens become the
// run's token cache, which train.Run reads instead of tokenizing -train.
func importShards(o *options, log io.Writer) error {
	if o.shards == "" {
		return nil
	}
	tr, va, err := train.ShardInputs(strings.Split(o.shards, ","))
	if err != nil {
		return err
	}
	return train.ImportShards(o.out, tr, va, o.c.Vocab, log)
}
