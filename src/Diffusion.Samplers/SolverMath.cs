namespace Diffusion.Samplers;

/// <summary>Scalar helpers for the exponential-integrator solvers, in float64.</summary>
internal static class SolverMath
{
    /// <summary>e^x − 1 without cancellation for small x (Kahan's trick: (u − 1)·x / log u with u = e^x).</summary>
    public static double ExpM1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        return double.IsInfinity(u) ? u : um1 * x / Math.Log(u);
    }

    /// <summary>Solves the small dense system a·y = b (n ≤ 3 here) by Gaussian elimination with partial pivoting.</summary>
    /// <exception cref="InvalidOperationException">The system is singular (two solver nodes coincide).</exception>
    public static double[] Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var y = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            if (m[p, c] == 0) throw new InvalidOperationException("Singular solver system: two nodes of the multistep method coincide.");
            if (p != c)
            {
                for (int k = 0; k < n; k++) (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
                (y[c], y[p]) = (y[p], y[c]);
            }
            for (int r = c + 1; r < n; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < n; k++) m[r, k] -= f * m[c, k];
                y[r] -= f * y[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = y[r];
            for (int k = r + 1; k < n; k++) s -= m[r, k] * y[k];
            y[r] = s / m[r, r];
        }
        return y;
    }
}
