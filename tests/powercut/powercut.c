/* powercut.so: an LD_PRELOAD library that keeps, beside a program's data
 * directory, what a power cut would leave of it: only what the program
 * made durable.
 *
 * kill -9 proves little about durability, because the page cache keeps
 * every write the process made, synced or not. With this library loaded,
 * each fsync()/fdatasync() of a regular file under $KAIGI_POWERCUT_DIR
 * copies the file's whole content, as it is at that moment, to the same
 * name under $KAIGI_POWERCUT_SAVE. A test then kill -9s the program and
 * starts it again on a copy of the SAVE directory: every write that was
 * never synced is gone, as after a power cut. With SQLite in WAL mode
 * that means: under synchronous=FULL every committed transaction is
 * there (its WAL frames were synced at COMMIT); under NORMAL or OFF the
 * latest commits are not.
 *
 * The model of the directory: link(), rename() and unlink() of names
 * under the directory are applied to SAVE at once, as if the directory
 * were synced right after (kaigi syncs it after publishing a secret
 * file; SQLite after creating its WAL). A name whose content was never
 * synced has no copy, and a rename or link of it removes the target's
 * copy, the pessimistic reading. Files written through mmap (SQLite's
 * -shm index) are never copied: SQLite rebuilds that index from the WAL.
 *
 * Only for tests: it slows every fsync by a full copy of the file. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Resolved once, on first use, to libc's own functions. */
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_link)(const char *, const char *);
static int (*real_rename)(const char *, const char *);

static void *next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        fprintf(stderr, "powercut: no %s in libc\n", name);
        abort();
    }
    return p;
}

static void resolve(void)
{
    if (real_fsync)
        return;
    real_fdatasync = (int (*)(int))next("fdatasync");
    real_unlink = (int (*)(const char *))next("unlink");
    real_unlinkat = (int (*)(int, const char *, int))next("unlinkat");
    real_link = (int (*)(const char *, const char *))next("link");
    real_rename = (int (*)(const char *, const char *))next("rename");
    real_fsync = (int (*)(int))next("fsync");
}

/* The name of path relative to $KAIGI_POWERCUT_DIR, as an absolute path
 * under $KAIGI_POWERCUT_SAVE, written to out. Returns 0, or -1 when path
 * is not directly inside the directory (or either variable is unset). */
static int saved_name(const char *path, char *out, size_t cap)
{
    const char *dir = getenv("KAIGI_POWERCUT_DIR");
    const char *save = getenv("KAIGI_POWERCUT_SAVE");
    if (!dir || !save || !path)
        return -1;
    char rdir[PATH_MAX], rpath[PATH_MAX];
    if (!realpath(dir, rdir))
        return -1;
    /* The file itself may be gone (unlink) or not yet there (rename's
     * target): resolve its directory, keep its last name. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char parent[PATH_MAX];
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1; /* "/name" */
        if (n >= sizeof(parent))
            return -1;
        memcpy(parent, path, n);
        parent[n] = '\0';
    } else {
        strcpy(parent, ".");
    }
    if (!realpath(parent, rpath) || strcmp(rpath, rdir) != 0 || !*base)
        return -1;
    int n = snprintf(out, cap, "%s/%s", save, base);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Copies the file behind src (a path that reopens it for reading, since
 * the program's own descriptor may be write-only) to dst through dst.tmp
 * and rename, so that SAVE never holds half a copy. */
static void copy_file(const char *src, const char *dst)
{
    char tmp[PATH_MAX + 8];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= (int)sizeof(tmp))
        return;
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    int out = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (out < 0) {
        close(fd);
        return;
    }
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (write(out, buf, (size_t)n) != n)
            break;
        off += n;
    }
    close(out);
    close(fd);
    real_rename(tmp, dst);
}

static void save_fd(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return;
    char link[64], path[PATH_MAX], dst[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    if (saved_name(path, dst, sizeof(dst)) == 0)
        copy_file(link, dst);
}

int fsync(int fd)
{
    resolve();
    int rc = real_fsync(fd);
    if (rc == 0)
        save_fd(fd);
    return rc;
}

int fdatasync(int fd)
{
    resolve();
    int rc = real_fdatasync(fd);
    if (rc == 0)
        save_fd(fd);
    return rc;
}

int unlink(const char *path)
{
    resolve();
    char dst[PATH_MAX];
    if (saved_name(path, dst, sizeof(dst)) == 0)
        real_unlink(dst);
    return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    resolve();
    char dst[PATH_MAX];
    if ((dirfd == AT_FDCWD || path[0] == '/') && !(flags & AT_REMOVEDIR) &&
        saved_name(path, dst, sizeof(dst)) == 0)
        real_unlink(dst);
    return real_unlinkat(dirfd, path, flags);
}

/* Makes SAVE's copy of to what SAVE holds of from (or nothing). */
static void mirror(const char *from, const char *to, int move)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (saved_name(to, dst, sizeof(dst)) != 0)
        return;
    if (saved_name(from, src, sizeof(src)) != 0 || access(src, F_OK) != 0) {
        real_unlink(dst);
        return;
    }
    if (move) {
        real_rename(src, dst);
    } else {
        real_unlink(dst);
        real_link(src, dst);
    }
}

int link(const char *from, const char *to)
{
    resolve();
    int rc = real_link(from, to);
    if (rc == 0)
        mirror(from, to, 0);
    return rc;
}

int rename(const char *from, const char *to)
{
    resolve();
    int rc = real_rename(from, to);
    if (rc == 0)
        mirror(from, to, 1);
    return rc;
}
