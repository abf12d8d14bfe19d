/* lock.c - locks between processes on executing one action, private temp
 * directories under tmp/, and removing directory trees.
 *
 * A lock is flock(LOCK_EX|LOCK_NB) on locks/<hex>.lock: it dies with its
 * process. Unlocking never unlinks the file (a waiter may hold it open and
 * would then lock a file nobody else sees); gc removes lock files nobody
 * holds, and cache_lock checks after locking that its file is still the one
 * at the path.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int cache_lock(struct cache *c, const uint8_t key[PD_DIGEST_LEN], int *fd,
               struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], *path;
  int rc = 0;

  *fd = -1;
  digest_hex(key, hex);
  path = xasprintf("%s/locks/%s.lock", c->dir, hex);
  for (;;) {
    struct stat a, b;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
      rc = ERR_SET(err, -errno, "cannot open lock '%s': %s", path, strerror(errno));
      break;
    }
    if (flock(f, LOCK_EX | LOCK_NB) < 0) {
      int e = errno;
      close(f);
      if (e == EWOULDBLOCK || e == EINTR) {
        rc = 0;
        break;
      }
      rc = ERR_SET(err, -e, "cannot lock '%s': %s", path, strerror(e));
      break;
    }
    /* gc may have unlinked the file between our open and flock. */
    if (fstat(f, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev) {
      *fd = f;
      rc = 1;
      break;
    }
    close(f);
  }
  free(path);
  return rc;
}

void cache_unlock(struct cache *c, const uint8_t key[PD_DIGEST_LEN], int fd)
{
  (void)c;
  (void)key;
  if (fd < 0)
    return;
  flock(fd, LOCK_UN);
  close(fd);
}

int cache_mkdtemp(struct cache *c, const char *hint, char **path, struct pd_err *err)
{
  char *p;
  if (!hint || !*hint || strchr(hint, '/'))
    hint = "tmp";
  p = xasprintf("%s/tmp/%s-XXXXXX", c->dir, hint);
  if (!mkdtemp(p)) {
    int rc = ERR_SET(err, -errno, "cannot create a directory in '%s/tmp': %s", c->dir,
                     strerror(errno));
    free(p);
    *path = NULL;
    return rc;
  }
  *path = p;
  return 0;
}

int cache_rmtree(const char *path)
{
  struct stat st;
  struct dirent *de;
  DIR *dir;
  int rc = 0;

  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISDIR(st.st_mode)) {
    /* Never chmod a file: it may be a hard link into cas/. */
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
  }
  /* Read-only directories (materialized trees) must be opened up first. */
  if ((st.st_mode & 0700) != 0700)
    chmod(path, st.st_mode | 0700);
  dir = opendir(path);
  if (!dir)
    return errno == ENOENT ? 0 : -errno;
  while ((de = readdir(dir))) {
    char *child;
    int r;
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    child = xasprintf("%s/%s", path, de->d_name);
    r = cache_rmtree(child);
    if (r < 0 && rc == 0)
      rc = r;
    free(child);
  }
  closedir(dir);
  if (rmdir(path) < 0 && errno != ENOENT && rc == 0)
    rc = -errno;
  return rc;
}
