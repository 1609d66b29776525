#include "common/fmx.h"

#include <stdarg.h>
#include <stdio.h>

int fmx_err(char err[FMX_ERR_LEN], const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, FMX_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}
