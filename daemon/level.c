/* level: priority levels; see level.h. */
#include "level.h"

#include <string.h>

const char *const level_names[LEVEL_COUNT] = {"critical", "high", "normal", "low"};

int level_parse(const char *s)
{
    for (int i = 0; i < LEVEL_COUNT; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}
