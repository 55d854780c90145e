namespace Diffusion.Server;

/// <summary>A request the server answers with an RFC 7807 problem-details body and <see cref="Status"/>.</summary>
internal sealed class ProblemException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public static ProblemException BadRequest(string detail) => new(400, "Invalid request", detail);
}
