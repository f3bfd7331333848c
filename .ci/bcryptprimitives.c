/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Windows test binaries under Wine 8.
 *
 * Rust's std for Windows gets its random bytes (HashMap seeds) from `ProcessPrng` in
 * bcryptprimitives.dll, which Wine 8 lacks: without this DLL every test binary fails to load.
 * `ProcessPrng` here fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which Wine
 * has. Only the CI script builds and installs it, into the Wine prefix; it never ships.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);

/* RtlGenRandom takes a ULONG length, so a larger request is filled in chunks. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
