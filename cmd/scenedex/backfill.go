package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scenedex/scenedex/internal/backfill"
	"github.com/scenedex/scenedex/internal/sfn"
)

// backfillCmd starts cloud workflow runs for videos already in a bucket,
// with the AWS credentials of the environment.
func backfillCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	machine := fs.String("state-machine", os.Getenv("SCENEDEX_STATE_MACHINE_ARN"), "the stack's StateMachineArn output")
	dryRun := fs.Bool("dry-run", false, "list what would start, start nothing")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one s3://BUCKET/uploads/... URI"}
	}
	bucket, prefix, err := backfill.ParseURI(pos[0])
	if err != nil {
		return usageError{err.Error()}
	}
	if *machine == "" && !*dryRun {
		return usageError{"--state-machine (or SCENEDEX_STATE_MACHINE_ARN) is required"}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	starter := sfn.Starter{Client: awssfn.NewFromConfig(cfg), StateMachineArn: *machine}
	res, err := backfill.Run(ctx, s3.NewFromConfig(cfg), starter, bucket, prefix, *dryRun, func(key string, started bool) {
		state := "already known"
		if started {
			state = "started"
		} else if *dryRun {
			state = "would start"
		}
		fmt.Printf("%-13s s3://%s/%s\n", state, bucket, key)
	})
	fmt.Printf("%d objects, %d runs started, %d skipped\n", res.Listed, res.Started, res.Skipped)
	return err
}
