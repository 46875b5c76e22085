package collective

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The worker environment contract: every executor starts each worker of a
// job with the same binary and arguments and these variables set.
const (
	EnvRank         = "MLENV_RANK"               // this worker's rank, 0..world size-1
	EnvWorldSize    = "MLENV_WORLD_SIZE"         // number of workers
	EnvRendezvous   = "MLENV_RENDEZVOUS"         // host:port where rank 0 listens
	EnvRestartCount = "MLENV_RESTART_COUNT"      // how often the job was restarted; 0 on the first run
	EnvTimeout      = "MLENV_COLLECTIVE_TIMEOUT" // overrides Config.Timeout, as a Go duration ("90s")
	EnvSharedMemory = "MLENV_COLLECTIVE_SHM"     // "0" (or "false") sets Config.NoSharedMemory

	// EnvRendezvousPort is the port used with a host derived from the
	// cluster's environment (the first Slurm node) when EnvRendezvous is unset.
	EnvRendezvousPort = "MLENV_RENDEZVOUS_PORT"
)

// DefaultPort is the rendezvous port when nothing names one.
const DefaultPort = 29400

// ConfigFromEnv builds a Config from the worker environment: MLENV_RANK,
// MLENV_WORLD_SIZE and MLENV_RENDEZVOUS when set; otherwise, inside a Slurm
// step, SLURM_PROCID, SLURM_NTASKS and the first host of
// SLURM_JOB_NODELIST (port MLENV_RENDEZVOUS_PORT or DefaultPort); and inside
// a Kubernetes Indexed Job, JOB_COMPLETION_INDEX as the rank.
// MLENV_COLLECTIVE_TIMEOUT and MLENV_COLLECTIVE_SHM set Timeout and
// NoSharedMemory. With none of them the Config describes a single worker.
// getenv is os.Getenv in production.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Size: 1}
	rank, size, rdv := getenv(EnvRank), getenv(EnvWorldSize), getenv(EnvRendezvous)
	if rank == "" {
		rank = firstSet(getenv, "SLURM_PROCID", "JOB_COMPLETION_INDEX")
	}
	if size == "" {
		size = getenv("SLURM_NTASKS")
	}
	if rdv == "" {
		if nodes := getenv("SLURM_JOB_NODELIST"); nodes != "" {
			host, err := FirstHost(nodes)
			if err != nil {
				return cfg, fmt.Errorf("SLURM_JOB_NODELIST: %w", err)
			}
			port := getenv(EnvRendezvousPort)
			if port == "" {
				port = strconv.Itoa(DefaultPort)
			}
			rdv = host + ":" + port
		}
	}
	var err error
	if rank != "" {
		if cfg.Rank, err = strconv.Atoi(rank); err != nil {
			return cfg, fmt.Errorf("worker rank %q: not an integer", rank)
		}
	}
	if size != "" {
		if cfg.Size, err = strconv.Atoi(size); err != nil {
			return cfg, fmt.Errorf("%s %q: not an integer", EnvWorldSize, size)
		}
	}
	cfg.Rendezvous = rdv
	if t := getenv(EnvTimeout); t != "" {
		if cfg.Timeout, err = time.ParseDuration(t); err != nil {
			return cfg, fmt.Errorf("%s %q: %w", EnvTimeout, t, err)
		}
	}
	if v := getenv(EnvSharedMemory); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("%s %q: want 0 or 1", EnvSharedMemory, v)
		}
		cfg.NoSharedMemory = !on
	}
	return cfg, cfg.Validate()
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// FirstHost returns the first host name of a Slurm host list such as
// "node[07-09,12],gpu3" (node07 here), keeping leading zeros.
func FirstHost(list string) (string, error) {
	list = strings.TrimSpace(list)
	if list == "" {
		return "", fmt.Errorf("empty host list")
	}
	open := strings.IndexByte(list, '[')
	comma := strings.IndexByte(list, ',')
	if open < 0 || (comma >= 0 && comma < open) {
		if comma >= 0 {
			return list[:comma], nil
		}
		return list, nil
	}
	end := strings.IndexByte(list[open:], ']')
	if end < 0 {
		return "", fmt.Errorf("host list %q: unclosed '['", list)
	}
	first := list[open+1 : open+end]
	first, _, _ = strings.Cut(first, ",")
	first, _, _ = strings.Cut(first, "-")
	if first == "" {
		return "", fmt.Errorf("host list %q: empty range", list)
	}
	return list[:open] + first + firstHostSuffix(list[open+end+1:]), nil
}

// firstHostSuffix returns the literal text after a bracket range up to the
// next host separator ("node[1-2]-ib" names node1-ib).
func firstHostSuffix(rest string) string {
	if i := strings.IndexAny(rest, ",["); i >= 0 {
		return rest[:i]
	}
	return rest
}
