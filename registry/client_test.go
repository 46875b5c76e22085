package registry_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/registry"
	"github.com/mlenv/mlenv/server"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
	"github.com/mlenv/mlenv/track"
)

func TestClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		files, err := artifact.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server.NewHandler(s, files, slog.New(slog.DiscardHandler)))
		defer srv.Close()
		ctx := context.Background()
		for _, name := range []string{"ctr", "o'brien"} {
			if _, err := s.CreateRegisteredModel(ctx, name, "", nil); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: name, Source: "s3://b/" + name}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.SetRegisteredModelAlias(ctx, "o'brien", "prod", "1"); err != nil {
			t.Fatal(err)
		}
		tc, err := track.NewClient(srv.URL, track.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rc := registry.NewClient(tc)
		models, err := rc.SearchModels(ctx, "name LIKE 'ctr%'", 10)
		if err != nil || len(models) != 1 || len(models[0].LatestVersions) != 1 || models[0].LatestVersions[0].Version != "2" {
			t.Fatalf("search = %+v, %v", models, err)
		}
		versions, err := rc.SearchVersions(ctx, "o'brien")
		if err != nil || len(versions) != 2 || versions[0].Version != "2" {
			t.Fatalf("versions of o'brien = %+v, %v", versions, err)
		}
		v, err := rc.GetVersionByAlias(ctx, "o'brien", "prod")
		if err != nil || v.Version != "1" || v.Source != "s3://b/o'brien" {
			t.Fatalf("by alias = %+v, %v", v, err)
		}
		if _, err := rc.GetVersion(ctx, "ctr", "3"); store.CodeOf(err) != store.ResourceDoesNotExist {
			t.Fatalf("missing version: %v", err)
		}
		if m, err := rc.GetModel(ctx, "ctr"); err != nil || m.Name != "ctr" {
			t.Fatalf("get = %+v, %v", m, err)
		}
	})
}
