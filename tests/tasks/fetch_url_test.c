/* fetch_url_test.c - tests of tasks/fetch_url.c: pinned downloads over
 * file:// and over HTTP from a loopback server (python3, port chosen by
 * the OS, Range support that can be switched off per path): the pin, the
 * mismatch error, resuming a partial file, starting over when a partial
 * cannot be resumed, reuse of a verified file, and transfer errors. */
#include "tasks_test_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "digest.h"
#include "fetch_url.h"

static char *dir;
static pid_t server = -1;
static int port;

/* Serves the current folder on 127.0.0.1; honours "Range: bytes=N-" except
 * under /norange/; logs "PATH RANGE" per request to requests.log. */
static const char server_py[] =
    "import http.server, os, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def do_GET(self):\n"
    "        rng = self.headers.get('Range') or '-'\n"
    "        with open('requests.log', 'a') as f: f.write(self.path + ' ' + rng + '\\n')\n"
    "        path = self.path\n"
    "        norange = path.startswith('/norange/')\n"
    "        if norange: path = path[len('/norange'):]\n"
    "        fn = '.' + path\n"
    "        if not os.path.isfile(fn):\n"
    "            self.send_error(404); return\n"
    "        data = open(fn, 'rb').read()\n"
    "        start = 0\n"
    "        if rng != '-' and not norange:\n"
    "            start = int(rng.split('=')[1].split('-')[0])\n"
    "            if start >= len(data):\n"
    "                self.send_response(416)\n"
    "                self.send_header('Content-Range', 'bytes */%d' % len(data))\n"
    "                self.send_header('Content-Length', '0'); self.end_headers(); return\n"
    "            self.send_response(206)\n"
    "            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))\n"
    "        else:\n"
    "            self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(data) - start))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(data[start:])\n"
    "http.server.HTTPServer.handle_error = lambda self, req, addr: None\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "open('port.tmp', 'w').write(str(s.server_address[1]))\n"
    "os.rename('port.tmp', 'port')\n"
    "s.serve_forever()\n";

static int start_server(void)
{
  struct timespec ts = { 0, 20 * 1000 * 1000 };
  int i;
  write_str("server.py", server_py);
  server = fork();
  if (server < 0)
    return -1;
  if (server == 0) {
    execlp("python3", "python3", "server.py", (char *)NULL);
    _exit(127);
  }
  for (i = 0; i < 500; i++) { /* up to 10 s */
    FILE *f = fopen("port", "r");
    if (f) {
      int ok = fscanf(f, "%d", &port) == 1;
      fclose(f);
      if (ok)
        return 0;
    }
    if (waitpid(server, NULL, WNOHANG) == server) {
      server = -1;
      return -1;
    }
    nanosleep(&ts, NULL);
  }
  return -1;
}

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("fetch_url_test");
  if (chdir(dir) != 0)
    return -1;
  if (start_server() < 0) {
    if (server > 0)
      kill(server, SIGTERM);
    server = -1; /* the HTTP tests skip */
  }
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (server > 0) {
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
  }
  if (chdir("/") != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

/* A file of n pseudo-random bytes at name; its hex digest into hex. */
static void make_file(const char *name, size_t n, char hex[PD_DIGEST_HEX])
{
  uint8_t *p = xmalloc(n), d[PD_DIGEST_LEN];
  size_t i;
  uint32_t x = 12345;
  for (i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  write_file(name, p, n);
  digest_buf(p, n, d);
  digest_hex(d, hex);
  free(p);
}

static char *file_url(const char *name)
{
  return xasprintf("file://%s/%s", dir, name);
}

static void assert_same(const char *a, const char *b)
{
  size_t na, nb;
  char *pa = read_all(a, &na), *pb = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(pa, pb, na);
  free(pa);
  free(pb);
}

static int exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

struct seen {
  uint64_t min_done, total;
  int calls;
};

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
  struct seen *s = arg;
  if (!s->calls++ || done < s->min_done)
    s->min_done = done;
  if (total)
    s->total = total;
  return 0;
}

static void test_pin_syntax(void **state)
{
  struct pd_err err = { 0 };
  (void)state;
  assert_int_equal(fetch_url_check_pin(
                       "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"), 0);
  assert_int_equal(fetch_url_check_pin("e3b0c442"), -1);
  assert_int_equal(fetch_url_check_pin(""), -1);
  assert_int_equal(fetch_url_is_url("file:///x"), 1);
  assert_int_equal(fetch_url_is_url("ftp://x"), 0);
  assert_int_equal(fetch_url("file:///x", "abc", "d", NULL, NULL, &err), PD_EUSAGE);
  assert_string_equal(err.msg, "'file:///x': the sha256 pin must be 64 hex digits, got 'abc'");
}

static void test_file_ok_and_reuse(void **state)
{
  char hex[PD_DIGEST_HEX], *url = file_url("a.bin");
  struct pd_err err = { 0 };
  struct seen s = { 0 };
  (void)state;
  make_file("a.bin", 100000, hex);
  CHECK(fetch_url(url, hex, "a.out", on_progress, &s, &err));
  assert_same("a.bin", "a.out");
  assert_false(exists("a.out.part"));
  assert_true(s.calls > 0);
  assert_int_equal(s.total, 100000);
  /* Verified and reused: the source may go away. */
  unlink("a.bin");
  CHECK(fetch_url(url, hex, "a.out", NULL, NULL, &err));
  free(url);
}

static void test_file_mismatch(void **state)
{
  char hex[PD_DIGEST_HEX], bad[PD_DIGEST_HEX], *url = file_url("b.bin"), *want;
  struct pd_err err = { 0 };
  (void)state;
  make_file("b.bin", 5000, hex);
  memcpy(bad, hex, sizeof bad);
  bad[0] = bad[0] == '0' ? '1' : '0';
  assert_int_equal(fetch_url(url, bad, "b.out", NULL, NULL, &err), PD_ECORRUPT);
  want = xasprintf("'%s': sha256 mismatch: expected %s, got %s", url, bad, hex);
  assert_string_equal(err.msg, want);
  assert_false(exists("b.out"));
  assert_false(exists("b.out.part")); /* wrong bytes are not kept */
  /* A stale file under the final name is replaced, not trusted. */
  write_str("b.out", "stale");
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "b.out", NULL, NULL, &err));
  assert_same("b.bin", "b.out");
  free(want);
  free(url);
}

static void test_file_resume(void **state)
{
  char hex[PD_DIGEST_HEX], *url = file_url("c.bin"), *p;
  struct pd_err err = { 0 };
  struct seen s = { 0 };
  size_t n;
  (void)state;
  make_file("c.bin", 64000, hex);
  p = read_all("c.bin", &n);
  write_file("c.out.part", p, 24000);
  CHECK(fetch_url(url, hex, "c.out", on_progress, &s, &err));
  assert_same("c.bin", "c.out");
  assert_int_equal(s.min_done, 24000); /* never counted from 0: resumed */
  /* Proof by wrong bytes: a resumed partial keeps its prefix, so a bad
   * prefix fails the pin (and is then deleted). */
  p[0] = (char)~p[0];
  write_file("c2.out.part", p, 24000);
  pd_err_clear(&err);
  assert_int_equal(fetch_url(url, hex, "c2.out", NULL, NULL, &err), PD_ECORRUPT);
  assert_false(exists("c2.out.part"));
  /* A partial longer than the file cannot be resumed: start over. */
  {
    char *big = xmalloc(n + 100);
    memset(big, 7, n + 100);
    write_file("c3.out.part", big, n + 100);
    free(big);
  }
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "c3.out", NULL, NULL, &err));
  assert_same("c.bin", "c3.out");
  free(p);
  free(url);
}

static void test_file_missing(void **state)
{
  char *url = file_url("nope.bin");
  struct pd_err err = { 0 };
  (void)state;
  assert_int_equal(fetch_url(url, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                             "n.out", NULL, NULL, &err),
                   PD_ECURL);
  if (strncmp(err.msg, "cannot download 'file://", 24) != 0 || !strstr(err.msg, "nope.bin"))
    fail_msg("%s", err.msg);
  free(url);
}

static char *http_url(const char *path)
{
  return xasprintf("http://127.0.0.1:%d/%s", port, path);
}

static char *requests(void)
{
  return exists("requests.log") ? read_all("requests.log", NULL) : xstrdup("");
}

static void test_http(void **state)
{
  char hex[PD_DIGEST_HEX], bad[PD_DIGEST_HEX], *url, *p, *log, *want;
  struct pd_err err = { 0 };
  size_t n;
  (void)state;
  if (server < 0)
    skip();
  make_file("h.bin", 300000, hex);
  url = http_url("h.bin");

  /* Plain download, checked. */
  CHECK(fetch_url(url, hex, "h1.out", NULL, NULL, &err));
  assert_same("h.bin", "h1.out");

  /* Mismatch: the URL, the expected and the actual digest. */
  memcpy(bad, hex, sizeof bad);
  bad[63] = bad[63] == 'a' ? 'b' : 'a';
  assert_int_equal(fetch_url(url, bad, "h2.out", NULL, NULL, &err), PD_ECORRUPT);
  want = xasprintf("'%s': sha256 mismatch: expected %s, got %s", url, bad, hex);
  assert_string_equal(err.msg, want);
  free(want);

  /* Resume: a Range request from the partial's end. */
  p = read_all("h.bin", &n);
  write_file("h3.out.part", p, 100000);
  unlink("requests.log");
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "h3.out", NULL, NULL, &err));
  assert_same("h.bin", "h3.out");
  log = requests();
  assert_string_equal(log, "/h.bin bytes=100000-\n");
  free(log);

  /* A partial already complete: 416 from our server, then once from 0...
   * or accepted as finished: either way the pin decides. */
  write_file("h4.out.part", p, n);
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "h4.out", NULL, NULL, &err));
  assert_same("h.bin", "h4.out");

  /* A server that ignores Range: start over, once. */
  free(url);
  url = http_url("norange/h.bin");
  write_file("h5.out.part", p, 100000);
  unlink("requests.log");
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "h5.out", NULL, NULL, &err));
  assert_same("h.bin", "h5.out");
  log = requests();
  assert_string_equal(log, "/norange/h.bin bytes=100000-\n/norange/h.bin -\n");
  free(log);

  /* 404 names the URL and the status. */
  free(url);
  url = http_url("missing.bin");
  pd_err_clear(&err);
  assert_int_equal(fetch_url(url, hex, "h6.out", NULL, NULL, &err), PD_ECURL);
  want = xasprintf("cannot download '%s': The requested URL returned error: 404", url);
  if (strncmp(err.msg, want, strlen(want)) != 0)
    fail_msg("'%s' does not start with '%s'", err.msg, want);
  free(want);
  free(url);
  free(p);
}

static int on_cancel(void *arg, uint64_t done, uint64_t total)
{
  (void)arg;
  (void)total;
  return done > 0;
}

static void test_http_cancel_keeps_partial(void **state)
{
  char hex[PD_DIGEST_HEX], *url;
  struct pd_err err = { 0 };
  (void)state;
  if (server < 0)
    skip();
  make_file("k.bin", 4000000, hex);
  url = http_url("k.bin");
  assert_int_equal(fetch_url(url, hex, "k.out", on_cancel, NULL, &err), PD_EINTR);
  assert_true(exists("k.out.part"));
  assert_false(exists("k.out"));
  pd_err_clear(&err);
  CHECK(fetch_url(url, hex, "k.out", NULL, NULL, &err));
  assert_same("k.bin", "k.out");
  free(url);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pin_syntax),
    cmocka_unit_test(test_file_ok_and_reuse),
    cmocka_unit_test(test_file_mismatch),
    cmocka_unit_test(test_file_resume),
    cmocka_unit_test(test_file_missing),
    cmocka_unit_test(test_http),
    cmocka_unit_test(test_http_cancel_keeps_partial),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
