/*
 * A sanity check of an application module's ELF image before dlopen():
 * the dynamic loader maps each loadable segment from the file, and a
 * segment that extends past the end of a truncated file faults (SIGBUS) on
 * first touch instead of failing cleanly. So the header and every PT_LOAD
 * segment must lie inside the file (System V gABI, "ELF Header" and
 * "Program Header"; 64-bit little-endian objects only, as consortd is).
 */
#include "node/app_host.h"

#include <elf.h>
#include <stddef.h>

/* Reads a little-endian field of `size` bytes at `off` of `image`. */
static consort_err field(cs_slice image, size_t off, size_t size, uint64_t *out)
{
    cs_slice s;
    CS_TRY(cs_slice_sub(image, off, size, &s));
    cs_cursor c;
    cs_cursor_init(&c, s);
    if (size == 2) {
        uint16_t v;
        CS_TRY(cs_cursor_read_le16(&c, &v));
        *out = v;
    } else if (size == 4) {
        uint32_t v;
        CS_TRY(cs_cursor_read_le32(&c, &v));
        *out = v;
    } else {
        CS_TRY(cs_cursor_read_le64(&c, out));
    }
    return CONSORT_OK;
}

#define FIELD(image, base, type, member, out)                                                      \
    field((image), (base) + offsetof(type, member), sizeof(((type *)0)->member), (out))

consort_err cs_app_check_image(cs_slice image)
{
    CS_ENSURE(image.len >= sizeof(Elf64_Ehdr), CONSORT_E_TRUNCATED,
              "%zu bytes, shorter than an ELF header", image.len);
    const uint8_t *id = image.ptr;
    CS_ENSURE(id[EI_MAG0] == ELFMAG0 && id[EI_MAG1] == ELFMAG1 && id[EI_MAG2] == ELFMAG2 &&
                  id[EI_MAG3] == ELFMAG3,
              CONSORT_E_MALFORMED, "not an ELF file");
    CS_ENSURE(id[EI_CLASS] == ELFCLASS64 && id[EI_DATA] == ELFDATA2LSB, CONSORT_E_UNSUPPORTED,
              "ELF class %u data %u, expected 64-bit little-endian", id[EI_CLASS], id[EI_DATA]);
    uint64_t type, phoff, phentsize, phnum;
    CS_TRY(FIELD(image, 0, Elf64_Ehdr, e_type, &type));
    CS_TRY(FIELD(image, 0, Elf64_Ehdr, e_phoff, &phoff));
    CS_TRY(FIELD(image, 0, Elf64_Ehdr, e_phentsize, &phentsize));
    CS_TRY(FIELD(image, 0, Elf64_Ehdr, e_phnum, &phnum));
    CS_ENSURE(type == ET_DYN, CONSORT_E_UNSUPPORTED, "ELF type %llu, expected a shared object (%d)",
              (unsigned long long)type, ET_DYN);
    CS_ENSURE(phentsize == sizeof(Elf64_Phdr), CONSORT_E_MALFORMED,
              "program header entries of %llu bytes, expected %zu", (unsigned long long)phentsize,
              sizeof(Elf64_Phdr));
    CS_ENSURE(phoff <= image.len && phnum <= (image.len - phoff) / sizeof(Elf64_Phdr),
              CONSORT_E_TRUNCATED, "%llu program headers at offset %llu pass the end (%zu bytes)",
              (unsigned long long)phnum, (unsigned long long)phoff, image.len);
    size_t loads = 0;
    for (uint64_t i = 0; i < phnum; i++) {
        size_t base = (size_t)(phoff + i * sizeof(Elf64_Phdr));
        uint64_t ptype, offset, filesz;
        CS_TRY(FIELD(image, base, Elf64_Phdr, p_type, &ptype));
        if (ptype != PT_LOAD)
            continue;
        loads++;
        CS_TRY(FIELD(image, base, Elf64_Phdr, p_offset, &offset));
        CS_TRY(FIELD(image, base, Elf64_Phdr, p_filesz, &filesz));
        CS_ENSURE(offset <= image.len && filesz <= image.len - offset, CONSORT_E_TRUNCATED,
                  "loadable segment %llu (offset %llu, %llu bytes) passes the end of the file "
                  "(%zu bytes)",
                  (unsigned long long)i, (unsigned long long)offset, (unsigned long long)filesz,
                  image.len);
    }
    CS_ENSURE(loads > 0, CONSORT_E_MALFORMED, "no loadable segment");
    return CONSORT_OK;
}
