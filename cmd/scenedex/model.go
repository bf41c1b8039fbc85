package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/scenedex/scenedex/internal/models"
)

func modelStore(data string) models.Store { return models.Store{Dir: filepath.Join(data, "models")} }

func modelCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "pull" && args[0] != "list") {
		return usageError{"model pull NAME | model list"}
	}
	fs := flag.NewFlagSet("model "+args[0], flag.ContinueOnError)
	data := fs.String("data", "./.scenedex", "the data folder scenedex serve uses (models go in its models/)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	store := modelStore(*data)
	if args[0] == "list" {
		list, err := store.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSIZE\tSTATE\tFOLDER")
		for _, m := range list {
			state := "ready"
			if !m.Ready {
				state = m.Note
			}
			fmt.Fprintf(tw, "%s\t%.1f MB\t%s\t%s\n", m.Name, float64(m.Bytes)/1e6, state, m.Dir)
		}
		tw.Flush()
		if len(list) == 0 {
			fmt.Printf("no models in %s; known to pull: %v\n", store.Dir, models.Known())
		}
		return nil
	}
	if len(pos) != 1 {
		return usageError{"give one model NAME; known: " + fmt.Sprint(models.Known())}
	}
	spec, ok := models.Registry[pos[0]]
	if !ok {
		return fmt.Errorf("unknown model %q; known: %v (or place any transformers.js CLIP export in a folder and serve --model DIR)", pos[0], models.Known())
	}
	dir := filepath.Join(store.Dir, spec.Name)
	p := models.NewPuller(os.Getenv("SCENEDEX_HUB"))
	live := term.IsTerminal(int(os.Stderr.Fd()))
	last := time.Time{}
	p.Report = func(file string, done, total int64) {
		if !live || time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(os.Stderr, "\r%s %.1f / %.1f MB   ", file, float64(done)/1e6, float64(total)/1e6)
	}
	fmt.Fprintf(os.Stderr, "pulling %s (%s, %s) from %s into %s\n", spec.Name, spec.Repo, spec.Licence, p.Hub, dir)
	if err := p.Pull(ctx, spec, dir); err != nil {
		if live {
			fmt.Fprintln(os.Stderr)
		}
		return fmt.Errorf("%w\n%s", err, models.ManualHint(spec, dir))
	}
	if live {
		fmt.Fprintln(os.Stderr)
	}
	fmt.Printf("%s is ready: scenedex serve --model %s\n", spec.Name, spec.Name)
	return nil
}
