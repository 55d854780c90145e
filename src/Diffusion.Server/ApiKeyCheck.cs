using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Diffusion.Server;

/// <summary>
/// The optional API key: every <c>/v1/</c> call must carry it in <c>X-API-Key</c> or <c>Authorization: Bearer</c>.
/// Both sides are hashed to 32 bytes first, so the comparison (<see cref="CryptographicOperations.FixedTimeEquals"/>)
/// takes the same time whatever the key's length or the first differing byte.
/// </summary>
internal sealed class ApiKeyCheck(string key)
{
    public const string Header = "X-API-Key";

    private readonly byte[] _hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>True when <paramref name="request"/> carries the key.</summary>
    public bool Allows(HttpRequest request)
    {
        string? given = request.Headers[Header].FirstOrDefault();
        if (given is null && request.Headers.Authorization.FirstOrDefault() is { } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            given = auth["Bearer ".Length..].Trim();
        if (given is null) return false;
        return CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(given)));
    }
}
