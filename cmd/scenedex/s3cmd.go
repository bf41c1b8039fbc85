package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/local"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
)

// s3Cmd holds the local S3 endpoint's helpers; `s3 env` prints shell exports
// that point S3 tools (aws-cli, boto3, rclone) at the local bucket.
func s3Cmd(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "env" {
		return usageError{"the only s3 subcommand is env"}
	}
	fs := flag.NewFlagSet("s3 env", flag.ContinueOnError)
	data := fs.String("data", "./.scenedex", "the data folder `scenedex serve` uses")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected argument " + fs.Arg(0)}
	}
	access, secret, err := s3local.ReadCredentials(*data)
	if err != nil {
		return err
	}
	endpoint := strings.TrimRight(apiURL(), "/") // the S3 endpoint shares the API's address
	if _, cloud := client.CloudRegion(endpoint); cloud {
		return fmt.Errorf("SCENEDEX_URL is a cloud API (%s): s3 env is for the local server; in the cloud use your AWS credentials and the stack's bucket", endpoint)
	}
	vars := []struct{ name, value string }{
		{"AWS_ACCESS_KEY_ID", access},
		{"AWS_SECRET_ACCESS_KEY", secret},
		{"AWS_REGION", s3blob.LocalRegion},
		{"AWS_ENDPOINT_URL", endpoint},
		{"SCENEDEX_BUCKET", local.Bucket},
		// rclone reads a remote named "scenedex" from these: rclone ls scenedex:scenedex/uploads
		{"RCLONE_CONFIG_SCENEDEX_TYPE", "s3"},
		{"RCLONE_CONFIG_SCENEDEX_PROVIDER", "Other"},
		{"RCLONE_CONFIG_SCENEDEX_ACCESS_KEY_ID", access},
		{"RCLONE_CONFIG_SCENEDEX_SECRET_ACCESS_KEY", secret},
		{"RCLONE_CONFIG_SCENEDEX_ENDPOINT", endpoint},
		{"RCLONE_CONFIG_SCENEDEX_REGION", s3blob.LocalRegion},
		{"RCLONE_CONFIG_SCENEDEX_FORCE_PATH_STYLE", "true"},
	}
	fmt.Fprintf(os.Stdout, "# the local S3 endpoint of %s; use: eval \"$(scenedex s3 env)\"\n", *data)
	for _, v := range vars {
		fmt.Fprintf(os.Stdout, "export %s=%s\n", v.name, shellQuote(v.value))
	}
	fmt.Fprintln(os.Stdout, `# aws-cli before 2.13 ignores AWS_ENDPOINT_URL: aws --endpoint-url "$AWS_ENDPOINT_URL" s3 ls "s3://$SCENEDEX_BUCKET/uploads/"`)
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
