/* libFuzzer target: the personal-data masker.  Invariants: the output has
 * the input's length; only letters and digits change, and only to '*'. */
#include "buf.h"
#include "pii.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pii_patterns pat = {.shape = {"dddd-ddddddd", "aa dd ddd ddd"}, .n = 2};
    static struct buf out;
    static int init;

    if (!init) {
        buf_init(&out, 1 << 20);
        init = 1;
    }
    if (pii_mask((const char *)data, size, &pat, &out) < 0)
        return 0;                       /* over the cap: refused, fine */
    if (out.len != size)
        abort();
    for (size_t i = 0; i < size; i++)
        if (out.data[i] != (char)data[i] &&
            !(out.data[i] == '*' && ((data[i] >= '0' && data[i] <= '9') || (data[i] >= 'A' && data[i] <= 'Z') ||
                                     (data[i] >= 'a' && data[i] <= 'z'))))
            abort();
    return 0;
}
