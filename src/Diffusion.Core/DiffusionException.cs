namespace Diffusion.Core;

/// <summary>
/// The one exception type the SDK throws for bad input a user can fix: an unknown name, a value out
/// of range, a missing or corrupted file. Its message says what was wrong and what to do, so a
/// command-line front end can print it as a single line.
/// </summary>
public sealed class DiffusionException : Exception
{
    /// <summary>Creates the exception with a message meant for the user.</summary>
    /// <param name="message">What was wrong and what to do about it.</param>
    public DiffusionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message meant for the user and the low-level cause.</summary>
    /// <param name="message">What was wrong and what to do about it.</param>
    /// <param name="inner">The exception that revealed the problem.</param>
    public DiffusionException(string message, Exception inner) : base(message, inner) { }
}
