package collective

import "testing"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"single worker", nil, Config{Size: 1}},
		{"mlenv", map[string]string{EnvRank: "2", EnvWorldSize: "4", EnvRendezvous: "h:5", EnvTimeout: "3s"},
			Config{Rank: 2, Size: 4, Rendezvous: "h:5", Timeout: 3e9}},
		{"slurm", map[string]string{"SLURM_PROCID": "1", "SLURM_NTASKS": "3", "SLURM_JOB_NODELIST": "gpu[07-09]", EnvRendezvousPort: "4000"},
			Config{Rank: 1, Size: 3, Rendezvous: "gpu07:4000"}},
		{"slurm default port", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "a,b"},
			Config{Rank: 0, Size: 2, Rendezvous: "a:29400"}},
		{"mlenv wins over slurm", map[string]string{EnvRank: "0", EnvWorldSize: "2", EnvRendezvous: "x:1", "SLURM_PROCID": "1", "SLURM_NTASKS": "5", "SLURM_JOB_NODELIST": "n1"},
			Config{Rank: 0, Size: 2, Rendezvous: "x:1"}},
		{"shared memory off", map[string]string{EnvSharedMemory: "0"}, Config{Size: 1, NoSharedMemory: true}},
		{"shared memory on", map[string]string{EnvSharedMemory: "1"}, Config{Size: 1}},
		{"kubernetes", map[string]string{"JOB_COMPLETION_INDEX": "3", EnvWorldSize: "4", EnvRendezvous: "job-0.job:29400"},
			Config{Rank: 3, Size: 4, Rendezvous: "job-0.job:29400"}},
	}
	for _, c := range cases {
		got, err := ConfigFromEnv(envOf(c.env))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	for _, bad := range []map[string]string{
		{EnvRank: "x", EnvWorldSize: "2", EnvRendezvous: "h:1"},
		{EnvRank: "2", EnvWorldSize: "2", EnvRendezvous: "h:1"},
		{EnvRank: "1", EnvWorldSize: "2"},
		{EnvTimeout: "soon"},
		{EnvSharedMemory: "maybe"},
		{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n[1-2"},
	} {
		if _, err := ConfigFromEnv(envOf(bad)); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestFirstHost(t *testing.T) {
	for in, want := range map[string]string{
		"node1":             "node1",
		"node1,node2":       "node1",
		"node[07-09,12]":    "node07",
		"node[3,1]":         "node3",
		"gpu[2-4]-ib,cpu1":  "gpu2-ib",
		"a,node[1-2]":       "a",
		" rack1-n[010-012]": "rack1-n010",
	} {
		got, err := FirstHost(in)
		if err != nil || got != want {
			t.Errorf("FirstHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
