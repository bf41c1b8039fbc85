// Command scenedex is the CLI: `serve` runs the whole pipeline on one machine;
// the other commands talk to a running API (SCENEDEX_URL).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/scenedex/scenedex/client"
)

type command struct {
	usage string
	run   func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"serve":        {"serve [--addr 127.0.0.1:8080] [--data ./.scenedex] [--model-url URL] [--chunk-seconds 10]", serve},
	"upload":       {"upload FILE [--collection C] [--metadata JSON] [--wait] [--json]", upload},
	"status":       {"status ID [--json]", status},
	"videos":       {"videos [--collection C] [--json]", videos},
	"delete":       {"delete ID", deleteVideo},
	"search":       {`search (--image FILE | --like ID@SECONDS | "text") [--collection C] [-k N] [--json]`, search},
	"concepts":     {`concepts "crowd celebrating" ["person dancing" ...] [--image FILE ...] [--threshold 0.25] [--best 3] [--collection C] [--json | --csv]`, concepts},
	"dead-letters": {"dead-letters [--redrive]", deadLetters},
	"reprocess":    {"reprocess ID [--wait]   (a FAILED video gets a new run, if its upload is still there)", reprocess},
	"reindex": {"reindex [--collection C] [VIDEO_ID] [--json]   (re-embed and re-read words from stored frames)\n" +
		"  reindex --model NAME|DIR [--no-wait]   (switch every video to another model; search keeps the old one until done)\n" +
		"  reindex --status | --cancel", reindex},
	"model":    {"model pull NAME | model list [--data ./.scenedex]   (CLIP-family models for serve --model NAME)", modelCmd},
	"s3":       {"s3 env [--data ./.scenedex]   (shell exports pointing aws-cli, boto3 and rclone at the local bucket)", s3Cmd},
	"backfill": {"backfill s3://BUCKET/uploads/... --state-machine ARN [--dry-run]   (cloud: videos already in a bucket)", backfillCmd},
}

func usage() {
	fmt.Fprintln(os.Stderr, "scenedex: find the moments in your videos.\n\nUsage:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(os.Stderr, "  scenedex "+commands[n].usage)
	}
	fmt.Fprintln(os.Stderr, "\nSCENEDEX_URL points the client commands at the API (default http://127.0.0.1:8080).")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "scenedex: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "scenedex "+os.Args[1]+": "+err.Error())
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "usage: scenedex "+cmd.usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(os.Stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// apiClient talks to SCENEDEX_URL, with SCENEDEX_TOKEN as bearer token if set.
// apiClient talks to SCENEDEX_URL: the local server (with SCENEDEX_TOKEN), or
// the cloud API, whose requests are SigV4-signed with your AWS credentials
// (the region from the URL, or AWS_REGION; SCENEDEX_SIGV4=1 forces signing
// for a custom domain).
func apiClient() *client.Client {
	c := client.New(apiURL())
	c.Token = os.Getenv("SCENEDEX_TOKEN")
	region, cloud := client.CloudRegion(c.BaseURL)
	if os.Getenv("SCENEDEX_SIGV4") == "1" {
		cloud = true
	}
	if cloud {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, "scenedex: AWS credentials for the cloud API:", err)
			os.Exit(1)
		}
		if region == "" {
			region = cfg.Region
		}
		c.Sign = client.SigV4(cfg.Credentials, region)
	}
	return c
}

func apiURL() string {
	if u := strings.TrimSpace(os.Getenv("SCENEDEX_URL")); u != "" {
		return u
	}
	return "http://127.0.0.1:8080"
}
