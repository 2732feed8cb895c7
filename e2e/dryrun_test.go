package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDryRunConfiguredGateway runs --dry-run with no --pushgateway.url and
// a pushgateways entry in --config.file for a real Pushgateway behind basic
// auth: the dry run scrapes that gateway with its credentials and shows the
// pushed group's series under the configured name, never the gateway's
// address or the password. delete_expired is not acted on: the expired
// group is still on the gateway afterwards.
func TestDryRunConfiguredGateway(t *testing.T) {
	t.Parallel()
	const user, password = "bridge", "e2e-dry-run-pa55"
	_, gwAddr := haAuthGateway(t, user, password)
	// Go's client sends a URL's userinfo as basic auth.
	authURL := fmt.Sprintf("http://%s:%s@%s", user, password, gwAddr)
	mustPush(t, authURL, http.MethodPut, groupPath("dry_old"), "# TYPE dry_old_value gauge\ndry_old_value 3\n")
	time.Sleep(1100 * time.Millisecond) // dry_old expires after 1s
	mustPush(t, authURL, http.MethodPut, groupPath("dry_auth", "instance", "a"), "# TYPE dry_auth_value gauge\ndry_auth_value 7\n")
	cfg := writeConfig(t, fmt.Sprintf(`
pushgateways:
- name: pgw-auth
  url: http://%s
  basic_auth: {username: %s, password: %s}
remote_write:
- url: http://receiver.invalid/api/v1/write
  name: rw
group_rules:
- match: {job: dry_old}
  expire_after: 1s
  delete_expired: true
`, gwAddr, user, password))

	stdout, stderr, code := runBridgeOnce(t, "--dry-run", "--config.file="+cfg)
	if code != 0 || stderr != "" {
		t.Fatalf("--dry-run: exit %d, stderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	for _, want := range []string{
		"# pushgateway pgw-auth: 2 groups, ",
		"# groups: 2 (1 expired, 1 ok)\n",
		"\n" + `dry_auth_value{instance="a",job="dry_auth"} 7` + "\n",
		"\n" + `up{instance="a",job="dry_auth"} 1` + "\n",
		"\n" + `pushgateway_up{gateway="pgw-auth"} 1` + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, secret := range []string{gwAddr, password} {
		if strings.Contains(stdout, secret) {
			t.Errorf("output shows %q:\n%s", secret, grepContaining(stdout, secret))
		}
	}
	if code, body, err := httpGet(authURL + "/api/v1/metrics"); err != nil || code != http.StatusOK || !strings.Contains(body, `"dry_old"`) {
		t.Errorf("gateway after the dry run: %d %v, want it to still hold dry_old:\n%s", code, err, body)
	}
}
