#include "cli.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    /* tss2 prints its own line to stderr for every malformed structure it
     * unmarshals; evidence comes from untrusted hosts, so keep it quiet (our
     * errors carry the reason). An explicit TSS2_LOG from the user wins. */
    setenv("TSS2_LOG", "all+none", 0);
    return cs_cli_main(argc, argv);
}
