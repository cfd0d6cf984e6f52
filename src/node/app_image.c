/*
 * Module images (app_host.h): an application module copied into a sealed
 * memfd, checked and hashed over the sealed bytes, so that what the
 * dynamic loader maps is exactly what the code id measured. Images with
 * the same bytes are shared by every application loaded in the process.
 */
#include "node/app_host.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The seals that make a memfd immutable (memfd_create(2), fcntl(2) "File Sealing"). */
#define MODULE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/*
 * A module image loaded in this process: a sealed memfd, open for as long as
 * the object is loaded (its number keeps the dynamic loader's name for it,
 * "/proc/self/fd/<n>", unique). Images with the same bytes are loaded once
 * and shared (several nodes in one test process): a second copy would be
 * more executable code in the process than a measurement describes.
 */
struct app_image {
    struct app_image *next;
    uint8_t digest[32];
    int fd;
    uint64_t dev, ino;
    size_t len;
    unsigned refs;
};

static app_image *images;
static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;

/* Drops one reference; the last closes the memfd (the object is unloaded by then). */
void app_image_release(app_image *img)
{
    if (img == NULL)
        return;
    pthread_mutex_lock(&images_lock);
    bool last = --img->refs == 0;
    if (last) {
        for (app_image **p = &images; *p != NULL; p = &(*p)->next) {
            if (*p == img) {
                *p = img->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&images_lock);
    if (last) {
        close(img->fd);
        cs_free(img);
    }
}

bool cs_app_image_digest(uint64_t dev, uint64_t ino, uint8_t digest[32])
{
    pthread_mutex_lock(&images_lock);
    const app_image *img = images;
    while (img != NULL && !(img->dev == dev && img->ino == ino))
        img = img->next;
    if (img != NULL)
        memcpy(digest, img->digest, 32);
    pthread_mutex_unlock(&images_lock);
    return img != NULL;
}

static consort_err write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        CS_ENSURE(w > 0, cs_errno_code(errno), "application module %s: memfd write: %s", path,
                  strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return CONSORT_OK;
}

static consort_err copy_module(int src, int mfd, const char *path, size_t *len)
{
    *len = 0;
    for (;;) {
        uint8_t chunk[65536];
        ssize_t n = read(src, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        CS_ENSURE(n >= 0, cs_errno_code(errno), "application module %s: cannot read: %s", path,
                  strerror(errno));
        if (n == 0)
            return CONSORT_OK;
        CS_ENSURE((size_t)n <= CS_APP_MODULE_MAX - *len, CONSORT_E_TOO_LARGE,
                  "application module %s: more than %zu bytes (%zu MiB, the most consortd "
                  "loads)",
                  path, CS_APP_MODULE_MAX, CS_APP_MODULE_MAX >> 20);
        CS_TRY(write_all(mfd, chunk, (size_t)n, path));
        *len += (size_t)n;
    }
}

/*
 * Reads the module file once into a new memfd and seals it: from here on
 * nobody, the host included, can change the bytes (F_SEAL_WRITE and no way
 * to grow, shrink or unseal). Then checks the ELF image and hashes it, both
 * over the sealed bytes.
 */
static consort_err seal_module(const char *path, int *out_fd, size_t *out_len, uint8_t digest[32])
{
    int src = open(path, O_RDONLY | O_CLOEXEC);
    CS_ENSURE(src >= 0, cs_errno_code(errno), "application module %s: cannot open: %s", path,
              strerror(errno));
    size_t len = 0;
    void *map = MAP_FAILED;
    consort_err rc = CONSORT_OK;
    int mfd = memfd_create("consort-app", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        rc =
            cs_fail(CONSORT_E_IO, "application module %s: memfd_create: %s", path, strerror(errno));
        goto out;
    }
    CS_TRY_GOTO(rc, copy_module(src, mfd, path, &len), out);
    if (fcntl(mfd, F_ADD_SEALS, MODULE_SEALS) != 0) {
        rc = cs_fail(CONSORT_E_IO, "application module %s: sealing the memfd: %s", path,
                     strerror(errno));
        goto out;
    }
    if ((fcntl(mfd, F_GET_SEALS) & MODULE_SEALS) != MODULE_SEALS) {
        rc = cs_fail(CONSORT_E_IO, "application module %s: the memfd is not sealed", path);
        goto out;
    }
    if (len > 0 && (map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, mfd, 0)) == MAP_FAILED) {
        rc = cs_fail(CONSORT_E_IO, "application module %s: mmap: %s", path, strerror(errno));
        goto out;
    }
    const cs_slice image = len > 0 ? CS_SLICE(map, len) : CS_SLICE_EMPTY;
    CS_TRY_CTX_GOTO(rc, cs_app_check_image(image), out, "application module %s", path);
    cs_sha256(image, digest);
out:
    close(src);
    if (map != MAP_FAILED)
        munmap(map, len);
    if (rc != CONSORT_OK) {
        if (mfd >= 0)
            close(mfd);
        return rc;
    }
    *out_fd = mfd;
    *out_len = len;
    return CONSORT_OK;
}

/* The image with these bytes: an already loaded one (a reference more; `fd` is
 * closed), or a new one holding `fd`. */
static consort_err image_get(int fd, size_t len, const uint8_t digest[32], app_image **out)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cs_fail(CONSORT_E_IO, "application module: fstat of its memfd: %s", strerror(e));
    }
    pthread_mutex_lock(&images_lock);
    app_image *img = images;
    while (img != NULL && memcmp(img->digest, digest, 32) != 0)
        img = img->next;
    if (img != NULL) {
        img->refs++;
    } else if ((img = cs_calloc(1, sizeof *img)) != NULL) {
        memcpy(img->digest, digest, 32);
        img->fd = fd;
        img->dev = (uint64_t)st.st_dev;
        img->ino = (uint64_t)st.st_ino;
        img->len = len;
        img->refs = 1;
        img->next = images;
        images = img;
        fd = -1;
    }
    pthread_mutex_unlock(&images_lock);
    if (fd >= 0)
        close(fd);
    CS_ENSURE(img != NULL, CONSORT_E_NOMEM, "application module: out of memory");
    *out = img;
    return CONSORT_OK;
}

consort_err app_image_load(const char *path, app_image **out)
{
    int fd = -1;
    size_t len = 0;
    uint8_t digest[32];
    CS_TRY(seal_module(path, &fd, &len, digest));
    return image_get(fd, len, digest, out);
}

int app_image_fd(const app_image *img)
{
    return img->fd;
}

size_t app_image_len(const app_image *img)
{
    return img->len;
}

void app_image_identity(const app_image *img, uint8_t digest[32], uint64_t *dev, uint64_t *ino)
{
    memcpy(digest, img->digest, 32);
    *dev = img->dev;
    *ino = img->ino;
}
